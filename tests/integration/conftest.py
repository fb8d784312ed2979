"""Real servers for integration tests (mark such tests ``@pytest.mark.server``).

A session fixture starts dovecot + postfix (``mail_server``) once, on free ports of
127.0.0.1, and stops it at the end (PostgreSQL: ``postgres_server`` in tests/conftest.py).
They need root and the Debian packages from packaging/install-system-deps.sh: without them
the tests are skipped locally, but fail when ``CI=true`` (a CI run must not pass by
skipping).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from app.db import migrate
from app.db.engine import Database
from app.services import demo
from tests.conftest import session_server
from tests.servers.mail import Mailbox, MailServer
from tests.servers.postgres import PostgresServer


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
    yield from session_server(MailServer, "mail", "mail server")


@pytest.fixture
def mailbox(mail_server: MailServer, request: pytest.FixtureRequest) -> Mailbox:
    """A fresh mail account (unique address, random password) for this test."""
    return mail_server.new_mailbox(request.node.name)


@pytest.fixture
def outage(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """The session's PostgreSQL server for a test to stop, started again however the test
    ends (others use it; nothing when it runs)."""
    yield postgres_server
    postgres_server.start()


@pytest.fixture
def pg_demo(postgres_url: str) -> Iterator[Database]:
    """A PostgreSQL database of its own with the demo organisation."""
    db = Database(postgres_url)
    migrate.upgrade(db)
    demo.seed(db)
    yield db
    db.dispose()
