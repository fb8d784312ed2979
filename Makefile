# Email Campaigns — `make run` starts the app, `make test` runs every check.
# Both create the virtual environment and, as root, install the Debian packages
# that Qt (and the test servers) need.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Debian's own Python, which a new user has: the tests run on it too when `python3` is another
SYSTEM_PYTHON ?= /usr/bin/python3
# What runs on that second Python: every parsing and unit test, and retrieval from a real
# IMAP server (CPython's email corpus included)
SYSTEM_PYTHON_TESTS ?= tests/unit tests/integration/test_retrieval.py \
	tests/integration/test_retrieval_forked.py tests/integration/test_retrieval_early.py

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck pytest pytest-sqlite pytest-postgresql pytest-system-python \
	system-deps package screenshots clean

run: system-deps $(STAMP)
	$(BIN)/email-campaigns

test: system-deps $(STAMP) lint typecheck pytest pytest-system-python

# ruff, then the layer contracts of pyproject.toml's [tool.importlinter] (docs/architecture.md)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite on SQLite, then again on a PostgreSQL server started by the suite.
pytest: pytest-sqlite pytest-postgresql

pytest-sqlite: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/pytest $(PYTEST_ARGS)

pytest-postgresql: $(STAMP)
	EMAIL_CAMPAIGNS_TEST_DATABASE=postgresql QT_QPA_PLATFORM=offscreen $(BIN)/pytest $(PYTEST_ARGS)

# A green run on one patch release of Python hid 31 failures on another (3.11.7 / 3.11.2).
pytest-system-python: $(STAMP)
	@if [ ! -x "$(SYSTEM_PYTHON)" ]; then \
		echo "pytest-system-python: no $(SYSTEM_PYTHON); skipped"; \
	elif [ "$$($(SYSTEM_PYTHON) -c 'import sys; print(sys.version)')" = \
	       "$$($(BIN)/python -c 'import sys; print(sys.version)')" ]; then \
		echo "pytest-system-python: $(SYSTEM_PYTHON) is the Python of $(VENV); nothing more to run"; \
	else \
		$(MAKE) --no-print-directory VENV=.venv-system PYTHON=$(SYSTEM_PYTHON) .venv-system/.installed-stamp && \
		echo "pytest-system-python: $$($(SYSTEM_PYTHON) --version) ($(SYSTEM_PYTHON))" && \
		QT_QPA_PLATFORM=offscreen .venv-system/bin/pytest $(PYTEST_ARGS) $(SYSTEM_PYTHON_TESTS); \
	fi

system-deps:
	@PYTHON=$(PYTHON) sh packaging/install-system-deps.sh

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
	rm -rf $(VENV) .venv-system build dist .pytest_cache .mypy_cache .ruff_cache \
		.import_linter_cache
