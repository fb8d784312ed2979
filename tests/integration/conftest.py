"""Real servers for integration tests (mark such tests ``@pytest.mark.server``).

Session fixtures start dovecot + postfix (``mail_server``) and PostgreSQL (``postgres_server``)
once, on free ports of 127.0.0.1, and stop them at the end. They need root and the Debian
packages from packaging/install-system-deps.sh: without them the tests are skipped locally,
but fail when ``CI=true`` (a CI run must not pass by skipping).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.servers import ServerError
from tests.servers.mail import Mailbox, MailServer
from tests.servers.postgres import PostgresServer

_database_numbers = itertools.count(1)


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; the server tests must run when CI=true", pytrace=False)
    pytest.skip(reason)


def _base_dir(kind: str) -> Path:
    # short (unix socket paths) and reachable by the daemons' users, unlike pytest's tmp_path
    return Path(tempfile.mkdtemp(prefix=f"ec-{kind}-", dir="/tmp"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used a server gets the tails of the server logs in its report."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name in ("mail_server", "postgres_server"):
            server = funcargs.get(name)
            if server is not None:
                report.sections.append((f"{name} logs", server.log_tail(40)))
    return report


@pytest.fixture(scope="session")
def mail_server() -> Iterator[MailServer]:
    """dovecot (IMAP/IMAPS/LMTP) + postfix (SMTP) for the whole session."""
    _require(MailServer.unavailable())
    base = _base_dir("mail")
    server = MailServer(base)
    try:
        server.start()
    except ServerError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"mail server did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the whole session (role app/app, database email_campaigns)."""
    _require(PostgresServer.unavailable())
    base = _base_dir("pg")
    server = PostgresServer(base)
    try:
        server.start()
    except ServerError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mailbox(mail_server: MailServer, request: pytest.FixtureRequest) -> Mailbox:
    """A fresh mail account (unique address, random password) for this test."""
    return mail_server.new_mailbox(request.node.name)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of an empty database of its own for this test (dropped afterwards)."""
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)
