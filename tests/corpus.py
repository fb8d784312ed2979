"""Mail to test the readers with: CPython's own email test messages, wherever the running
Python keeps them (its standard library's test/test_email/data; Debian ships them apart, in
libpython3.X-testsuite, which packaging/install-system-deps.sh installs), and our own."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import pytest

CPYTHON_DATA = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
OWN_DATA = Path(__file__).parent / "data" / "mail"


def cpython_corpus() -> list[Path]:
    """CPython's email test messages (msg_*.txt); empty where they are not installed."""
    return sorted(CPYTHON_DATA.glob("msg_*.txt"))


def own_corpus() -> list[Path]:
    """Our own collection of real-world shapes of mail (tests/data/mail)."""
    return sorted(OWN_DATA.glob("*.eml"))


def missing_corpus_reason() -> str | None:
    if cpython_corpus():
        return None
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return (
        f"CPython's email test data is missing at {CPYTHON_DATA} (on Debian: apt-get install "
        f"libpython{version}-testsuite, which make test does as root)"
    )


def require_cpython_corpus() -> list[Path]:
    """The corpus; a test without it skips, and fails when CI=true (a CI run must not pass
    by skipping)."""
    reason = missing_corpus_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return cpython_corpus()
