"""`channel sync` connects while it starts (app/channel_service/early.py): the session is
used only when the settings read the usual way are the same; otherwise it is closed and the
pass connects as always."""

from __future__ import annotations

from typing import Any

import pytest

from app.channel_service import early as early_module
from app.channel_service.early import EarlyConnection
from app.channel_service.servers import imap_settings
from app.channel_service.sync import sync_channel
from app.cli import main
from app.db.models import Channel
from app.mail import imap
from app.mail.imap import ConnectionProblem
from tests.integration.test_retrieval import make_channel, raw_message, server_uids, stored

pytestmark = pytest.mark.server


@pytest.fixture
def sqlite_demo(demo_db):  # type: ignore[no-untyped-def]
    if not demo_db.is_sqlite:
        pytest.skip("the early connection reads SQLite files only (PostgreSQL connects later)")
    return demo_db


def counted_sessions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ImapSession opened from now on."""
    opened: list[Any] = []
    original = imap.ImapSession.__init__

    def init(self: imap.ImapSession, settings: imap.ImapSettings) -> None:
        original(self, settings)
        opened.append(self)

    monkeypatch.setattr(imap.ImapSession, "__init__", init)
    return opened


def test_channel_sync_uses_the_session_opened_while_starting(  # type: ignore[no-untyped-def]
    mail_server, mailbox, sqlite_demo, secrets, monkeypatch
):
    make_channel(sqlite_demo, mail_server, mailbox, secrets, name="Early")
    for n in range(3):
        mail_server.deliver(mailbox.address, raw_message(n))
    opened = counted_sessions(monkeypatch)
    assert main(["--database", sqlite_demo.url, "channel", "sync", "Early"]) == 0
    assert len(opened) == 1  # the early one, not a second connection
    assert len(stored(sqlite_demo)) == 3 and server_uids(mail_server, mailbox) == []


def test_settings_changed_meanwhile_mean_a_new_connection(  # type: ignore[no-untyped-def]
    mail_server, mailbox, sqlite_demo, secrets, monkeypatch
):
    channel = make_channel(sqlite_demo, mail_server, mailbox, secrets, name="Early")
    with mail_server.imap(mailbox.address) as client:
        client.create_folder("Support")
        client.append("Support", raw_message(1))
    opened = counted_sessions(monkeypatch)
    early = EarlyConnection(sqlite_demo.url, "Early")
    early._thread.join()
    assert early.settings is not None and early.settings.folder == "INBOX"
    with sqlite_demo.session() as s:  # the folder changed after the early read
        s.get_one(Channel, channel).imap_folder = "Support"
    usual = imap_settings(sqlite_demo, channel, secrets)
    assert early.take(usual) is None
    assert opened[0].client._imap.state == "LOGOUT"  # closed, not left open
    report = sync_channel(sqlite_demo, channel, secrets)
    assert report.stored == 1 and len(opened) == 2
    assert server_uids(mail_server, mailbox, "Support") == []


def test_a_failure_with_the_same_settings_is_raised_not_tried_again(  # type: ignore[no-untyped-def]
    mail_server, mailbox, sqlite_demo, secrets
):
    channel = make_channel(sqlite_demo, mail_server, mailbox, secrets, name="Early", password="x")
    early = EarlyConnection(sqlite_demo.url, "Early")
    with pytest.raises(ConnectionProblem) as failed:
        early.take(imap_settings(sqlite_demo, channel, secrets))
    assert failed.value.kind == "credentials"


def test_no_early_connection_where_the_settings_cannot_be_read(  # type: ignore[no-untyped-def]
    mail_server, mailbox, sqlite_demo, secrets, tmp_path, monkeypatch
):
    channel = make_channel(sqlite_demo, mail_server, mailbox, secrets, name="Early")
    usual = imap_settings(sqlite_demo, channel, secrets)
    opened = counted_sessions(monkeypatch)
    for url, name in (
        (sqlite_demo.url, "No such channel"),
        ("postgresql://user@localhost/db", "Early"),
        (f"sqlite:///{tmp_path / 'missing.sqlite3'}", "Early"),
        (f"sqlite:///{tmp_path / 'not-a-database.sqlite3'}", "Early"),
    ):
        (tmp_path / "not-a-database.sqlite3").write_bytes(b"not SQLite")
        early = EarlyConnection(url, name)
        assert early.take(usual) is None and early.settings is None
    assert opened == []


def test_an_untaken_session_is_closed(mail_server, mailbox, sqlite_demo, secrets):  # type: ignore[no-untyped-def]
    make_channel(sqlite_demo, mail_server, mailbox, secrets, name="Early")
    early = EarlyConnection(sqlite_demo.url, "Early")
    early._thread.join()
    session = early._session
    assert session is not None
    early.close()
    assert session.client._imap.state == "LOGOUT"


def test_the_early_read_matches_the_usual_one(mail_server, mailbox, sqlite_demo, secrets):  # type: ignore[no-untyped-def]
    channel = make_channel(
        sqlite_demo, mail_server, mailbox, secrets, name="Early", ca_file="", folder="Sub"
    )
    read = early_module._read_settings(sqlite_demo.url, "Early")
    assert read == imap_settings(sqlite_demo, channel, secrets)
