# Email Campaigns — `make run` starts the app, `make test` runs every check.
# Both create the virtual environment and, as root, install the Debian packages
# that Qt (and the test servers) need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck pytest pytest-sqlite pytest-postgresql system-deps package screenshots clean

run: system-deps $(STAMP)
	$(BIN)/email-campaigns

test: system-deps $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite on SQLite, then again on a PostgreSQL server started by the suite.
pytest: pytest-sqlite pytest-postgresql

pytest-sqlite: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/pytest $(PYTEST_ARGS)

pytest-postgresql: $(STAMP)
	EMAIL_CAMPAIGNS_TEST_DATABASE=postgresql QT_QPA_PLATFORM=offscreen $(BIN)/pytest $(PYTEST_ARGS)

system-deps:
	@sh packaging/install-system-deps.sh

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

package: system-deps $(STAMP)
	$(BIN)/python -m pip install -q -e '.[package]'
	$(BIN)/pyinstaller --noconfirm --clean packaging/email-campaigns.spec

screenshots: system-deps $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python docs/render_screenshots.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
