"""Retrieval against real Dovecot: exactly once through kills, restarts and UIDVALIDITY
changes; malformed mail; IDLE; Test connection failures named precisely."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.channel_service.check import check_channel
from app.channel_service.runner import ChannelWorker
from app.channel_service.sync import sync_channel
from app.db.engine import Database
from app.db.models import AfterRetrieval, Campaign, Email, EmailStatus, History, Security
from app.mail.imap import ConnectionProblem
from app.services.auth import SYSTEM
from app.services.channels import ChannelData, ChannelService, FilterData
from app.services.intake import Intake
from app.services.secrets import PlainFileStore, SecretStore, choose_plain_file_fallback
from tests.corpus import own_corpus, require_cpython_corpus
from tests.servers.mail import Mailbox, MailServer

pytestmark = pytest.mark.server


def campaign_id(db: Database, title: str) -> int:
    with db.session() as s:
        return s.scalars(select(Campaign.id).where(Campaign.title == title)).one()


def demo_by_cli(url: str, home: Path) -> tuple[list[str], dict[str, str], Database]:
    """The demo organisation made by the command line in ``url``, and how to run more of it
    as a separate process does: no keyring there, so passwords go to the explicitly chosen
    unencrypted file under ``home``."""
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "EMAIL_CAMPAIGNS_HOME": str(home),
    }
    cli = [sys.executable, "-m", "app", "--database", url]
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True, timeout=120)
    return cli, env, Database(url)


def make_channel(
    db: Database,
    server: MailServer,
    box: Mailbox,
    store: SecretStore,
    *,
    name: str = "Real",
    after: AfterRetrieval = AfterRetrieval.DELETE,
    folder: str = "INBOX",
    port: int | None = None,
    security: Security = Security.SSL,
    ca_file: str | None = None,
    password: str | None = None,
    host: str = "127.0.0.1",
) -> int:
    channels = ChannelService(db, SYSTEM, store)
    channel = channels.create_channel(
        ChannelData(
            name=name,
            email_address=box.address,
            display_name="Real Support",
            default_campaign_id=campaign_id(db, "General Enquiries"),
            enabled=True,
            imap_host=host,
            imap_port=port or server.imaps_port,
            imap_security=security,
            imap_username=box.address,
            imap_folder=folder,
            after_retrieval=after,
            move_folder="Processed" if after == AfterRetrieval.MOVE else "",
            ca_file=str(server.ca_file) if ca_file is None else ca_file,
            smtp_host="127.0.0.1",
            smtp_port=server.smtp_port,
            smtp_security=Security.STARTTLS,
            smtp_username=box.address,
        )
    )
    channels.add_filter(
        channel.id, FilterData("subject", "contains", "order", campaign_id(db, "Orders"))
    )
    channels.set_password(channel.id, "inbound", password or box.password)
    channels.set_password(channel.id, "outbound", password or box.password)
    return channel.id


def raw_message(n: int, subject: str | None = None, message_id: bool = True) -> bytes:
    lines = [
        f"From: Customer {n} <customer{n}@example.com>",
        "To: support@example.test",
        f"Subject: {subject or f'Question {n}'}",
        "Date: Fri, 27 Nov 2026 10:00:00 +0000",
    ]
    if message_id:
        lines.append(f"Message-ID: <msg-{n}-{os.getpid()}@example.com>")
    lines.append("Content-Type: text/plain; charset=utf-8")
    return ("\r\n".join(lines) + f"\r\n\r\nGrüße, message number {n}\r\n").encode()


def stored(db: Database) -> list[Email]:
    with db.session() as s:
        return list(s.scalars(select(Email).order_by(Email.id)))


def server_uids(
    server: MailServer, box: Mailbox, folder: str = "INBOX", unseen: bool = False
) -> list[int]:
    with server.imap(box.address) as client:
        client.select_folder(folder, readonly=True)
        return list(client.search(["UNSEEN"] if unseen else ["ALL"]))


def uidvalidity_of(server: MailServer, box: Mailbox, folder: str = "INBOX") -> int:
    with server.imap(box.address) as client:
        return int(client.select_folder(folder, readonly=True)[b"UIDVALIDITY"])


def append(server: MailServer, box: Mailbox, *raws: bytes, folder: str = "INBOX") -> None:
    """APPEND ``raws`` as they are (no delivery headers added): copies stay byte-identical."""
    with server.imap(box.address) as client:
        for raw in raws:
            client.append(folder, raw)


def history_of(db: Database, email_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(select(History).where(History.email_id == email_id).order_by(History.id))
        return [(h.action, h.detail) for h in rows]


def recreate_folder(server: MailServer, box: Mailbox, folder: str) -> None:
    """The folder renamed away and made again with copies of its messages, all unread: the
    same messages under a new UIDVALIDITY and new UIDs."""
    with server.imap(box.address) as client:
        before = client.select_folder(folder)[b"UIDVALIDITY"]
        client.rename_folder(folder, f"{folder}-old")
        client.create_folder(folder)
        client.select_folder(f"{folder}-old")
        client.copy(client.search(["ALL"]), folder)
        client.select_folder(folder)
        client.remove_flags(client.search(["ALL"]), [b"\\Seen"])
        after = client.select_folder(folder)[b"UIDVALIDITY"]
    assert before != after


def test_sync_stores_routes_and_deletes_exactly_once(mail_server, mailbox, demo_db, secrets):  # type: ignore[no-untyped-def]
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    for n in range(5):
        mail_server.deliver(
            mailbox.address, raw_message(n, "My order" if n == 0 else None, message_id=n != 3)
        )
    report = sync_channel(demo_db, channel, secrets)
    assert (report.on_server, report.fetched, report.stored) == (5, 5, 5)
    emails = stored(demo_db)
    assert len(emails) == 5 and sum(e.message_id is None for e in emails) == 1
    assert emails[0].campaign_id == campaign_id(demo_db, "Orders")
    assert {e.campaign_id for e in emails[1:]} == {campaign_id(demo_db, "General Enquiries")}
    assert all(e.raw.startswith(b"Return-Path") or b"From: Customer" in e.raw for e in emails)
    assert server_uids(mail_server, mailbox) == []
    again = sync_channel(demo_db, channel, secrets)
    assert (again.on_server, again.stored) == (0, 0) and len(stored(demo_db)) == 5


def test_mark_read_and_move_leave_the_server_tidy(mail_server, demo_db, secrets):  # type: ignore[no-untyped-def]
    read_box = mail_server.new_mailbox("markread")
    move_box = mail_server.new_mailbox("move")
    with mail_server.imap(move_box.address) as client:
        client.create_folder("Processed")
    read_channel = make_channel(
        demo_db, mail_server, read_box, secrets, name="Read", after=AfterRetrieval.MARK_READ
    )
    move_channel = make_channel(
        demo_db, mail_server, move_box, secrets, name="Move", after=AfterRetrieval.MOVE
    )
    for n in range(3):
        mail_server.deliver(read_box.address, raw_message(n))
        mail_server.deliver(move_box.address, raw_message(100 + n))
    assert sync_channel(demo_db, read_channel, secrets).stored == 3
    assert sync_channel(demo_db, move_channel, secrets).stored == 3
    assert len(server_uids(mail_server, read_box)) == 3
    assert server_uids(mail_server, read_box, unseen=True) == []
    assert server_uids(mail_server, move_box) == []
    assert len(server_uids(mail_server, move_box, "Processed")) == 3
    assert sync_channel(demo_db, read_channel, secrets).stored == 0
    assert len(stored(demo_db)) == 6


def test_corpus_and_malformed_mail_are_all_stored(mail_server, mailbox, demo_db, secrets):  # type: ignore[no-untyped-def]
    corpus = require_cpython_corpus() + own_corpus()
    malformed = [
        b"From: foo <a@b\r\nSubject: unclosed\r\n\r\nbody\r\n",
        "Subject: Gr\xf6\xdfe raw 8-bit\r\nFrom: x@y.z\r\n\r\nk\xf6rper\r\n".encode("latin-1"),
        b"From: a@b.c\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n",
        b"From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n"
        b"--Z\r\nContent-Type: text/plain\r\n\r\ntruncated",
        b"From: a@b.c\r\nSubject: =?x-unknown-charset?q?Gr=FC=DFe?=\r\n\r\nno date\r\n",
    ]
    messages = [p.read_bytes() for p in corpus] + malformed
    for raw in messages:
        mail_server.deliver(mailbox.address, raw)
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    report = sync_channel(demo_db, channel, secrets)
    assert report.stored == len(messages), report.summary()
    assert server_uids(mail_server, mailbox) == []
    emails = stored(demo_db)
    assert len(emails) == len(messages)
    assert all(e.status == EmailStatus.QUEUED for e in emails)
    subjects = {e.subject for e in emails}
    assert "Größe raw 8-bit" in subjects and "unclosed" in subjects


def test_uidvalidity_change_does_not_duplicate(mail_server, mailbox, demo_db, secrets):  # type: ignore[no-untyped-def]
    with mail_server.imap(mailbox.address) as client:
        client.create_folder("Support")
        for n in range(4):
            client.append("Support", raw_message(n, message_id=n != 2))
    channel = make_channel(
        demo_db, mail_server, mailbox, secrets, folder="Support", after=AfterRetrieval.MARK_READ
    )
    assert sync_channel(demo_db, channel, secrets).stored == 4
    recreate_folder(mail_server, mailbox, "Support")
    report = sync_channel(demo_db, channel, secrets)
    assert (report.on_server, report.stored, report.already_stored) == (4, 0, 4)
    assert len(stored(demo_db)) == 4
    assert server_uids(mail_server, mailbox, "Support", unseen=True) == []
    # A new message in the new folder is still stored.
    mail_server.deliver(mailbox.address, raw_message(9))  # INBOX: not this channel's folder
    with mail_server.imap(mailbox.address) as client:
        client.append("Support", raw_message(10))
    assert sync_channel(demo_db, channel, secrets).stored == 1


@pytest.mark.parametrize(
    "after", [AfterRetrieval.MARK_READ, AfterRetrieval.DELETE, AfterRetrieval.MOVE]
)
def test_a_message_delivered_twice_is_one_email_and_no_copy_is_fetched_again(  # type: ignore[no-untyped-def]
    mail_server, mailbox, demo_db, secrets, after
):
    if after == AfterRetrieval.MOVE:
        with mail_server.imap(mailbox.address) as client:
            client.create_folder("Processed")
    channel = make_channel(demo_db, mail_server, mailbox, secrets, after=after)
    twice = raw_message(1, "Delivered twice")
    append(mail_server, mailbox, twice, raw_message(2), twice)
    delivered = server_uids(mail_server, mailbox)  # every UID the folder ever had
    uidvalidity = uidvalidity_of(mail_server, mailbox)
    intake = Intake(demo_db, channel)

    def tidy() -> None:
        """Every copy acted on once stored: read, deleted or moved; and known."""
        if after == AfterRetrieval.MARK_READ:
            assert server_uids(mail_server, mailbox) == delivered
            assert server_uids(mail_server, mailbox, unseen=True) == []
        else:
            assert server_uids(mail_server, mailbox) == []
        if after == AfterRetrieval.MOVE:
            assert len(server_uids(mail_server, mailbox, "Processed")) == len(delivered)
        assert intake.known_uids("INBOX", uidvalidity, delivered) == set(delivered)

    report = sync_channel(demo_db, channel, secrets)
    assert (report.on_server, report.fetched, report.stored) == (3, 3, 2), report.summary()
    emails = stored(demo_db)
    assert len(emails) == 2
    [email] = [e for e in emails if e.subject == "Delivered twice"]
    tidy()
    assert (
        report.copies == 1
        and "1 already stored (of them 1 copy delivered again)" in report.summary()
    )
    arrived = history_of(demo_db, email.id)[0]
    assert arrived[0] == "arrived" and f"copy (the same bytes): UID {delivered[2]}" in arrived[1]
    # The next pass fetches neither copy again, and the record stays as it is.
    again = sync_channel(demo_db, channel, secrets)
    assert (again.fetched, again.stored) == (0, 0), again.summary()
    [same] = [e for e in stored(demo_db) if e.id == email.id]
    assert (same.uidvalidity, same.uid) == (email.uidvalidity, email.uid)
    tidy()
    # A third copy, a day later: still the one email, its arrival noted.
    append(mail_server, mailbox, twice)
    latest = max(server_uids(mail_server, mailbox))
    delivered.append(latest)
    later = sync_channel(demo_db, channel, secrets)
    assert (later.fetched, later.stored, later.copies) == (1, 0, 1), later.summary()
    assert len(stored(demo_db)) == 2
    action, detail = history_of(demo_db, email.id)[-1]
    assert action == "arrived again" and f"UID {latest}" in detail and "copy" in detail
    tidy()
    assert sync_channel(demo_db, channel, secrets).fetched == 0


def test_uidvalidity_change_finds_both_copies_again_without_noting_a_copy(  # type: ignore[no-untyped-def]
    mail_server, mailbox, demo_db, secrets
):
    with mail_server.imap(mailbox.address) as client:
        client.create_folder("Support")
    twice = raw_message(1, "Delivered twice")
    append(mail_server, mailbox, twice, raw_message(2), twice, folder="Support")
    channel = make_channel(
        demo_db, mail_server, mailbox, secrets, folder="Support", after=AfterRetrieval.MARK_READ
    )
    first = sync_channel(demo_db, channel, secrets)
    assert first.stored == 2, first.summary()
    [email] = [e for e in stored(demo_db) if e.subject == "Delivered twice"]
    noted = history_of(demo_db, email.id)
    recreate_folder(mail_server, mailbox, "Support")
    report = sync_channel(demo_db, channel, secrets)
    assert (report.fetched, report.stored, report.already_stored) == (3, 0, 3), report.summary()
    assert len(stored(demo_db)) == 2
    assert server_uids(mail_server, mailbox, "Support", unseen=True) == []
    uids = server_uids(mail_server, mailbox, "Support")
    uidvalidity = uidvalidity_of(mail_server, mailbox, "Support")
    assert Intake(demo_db, channel).known_uids("Support", uidvalidity, uids) == set(uids)
    assert sync_channel(demo_db, channel, secrets).fetched == 0
    # found again, not delivered again: no copy noted
    assert (first.copies, report.copies) == (1, 0)
    assert history_of(demo_db, email.id) == noted


def test_imap_server_restarted_mid_pass(mail_server, mailbox, demo_db, secrets):  # type: ignore[no-untyped-def]
    total = 600
    for n in range(total):
        mail_server.deliver(mailbox.address, raw_message(n))
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    restarted = threading.Event()

    def restart_once(done: int, _total: int) -> None:
        if done >= 200 and not restarted.is_set():
            restarted.set()
            mail_server.restart_imap()

    with pytest.raises((ConnectionProblem, OSError, Exception)):  # the pass is cut off
        sync_channel(demo_db, channel, secrets, progress=restart_once)
    assert restarted.is_set()
    partial = len(stored(demo_db))
    assert 200 <= partial < total
    report = sync_channel(demo_db, channel, secrets)
    emails = stored(demo_db)
    assert len(emails) == total, report.summary()
    assert len({e.message_id for e in emails}) == total
    assert server_uids(mail_server, mailbox) == []


def test_a_killed_retrieval_loses_and_duplicates_nothing(
    mail_server,
    mailbox,
    tmp_path,  # type: ignore[no-untyped-def]
    isolated_home,
):
    """≥ 20 trials: a `channel sync` process killed at a random moment, then resumed."""
    url = f"sqlite:///{tmp_path / 'kill.sqlite3'}"
    cli, env, db = demo_by_cli(url, isolated_home)
    store = choose_plain_file_fallback()
    assert isinstance(store, PlainFileStore)
    make_channel(db, mail_server, mailbox, store, name="Killed")
    rng = random.Random(20261127)
    delivered = 0
    kills = 0

    def deliver(n: int) -> None:
        nonlocal delivered
        for _ in range(n):
            mail_server.deliver(mailbox.address, raw_message(1000 + delivered))
            delivered += 1

    # How long a whole run takes here (start-up and a pass of 25 messages): the kills fall
    # at random moments within it, however fast or slow the machine.
    deliver(25)
    started = time.monotonic()
    whole = subprocess.run([*cli, "channel", "sync", "Killed"], env=env, capture_output=True)
    lifetime = time.monotonic() - started
    assert whole.returncode == 0, whole.stderr
    for trial in range(20):
        deliver(25)
        proc = subprocess.Popen(
            [*cli, "channel", "sync", "Killed"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, lifetime))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if trial % 4 == 3:  # now and then, resume to the end before the next trial
            done = subprocess.run(
                [*cli, "channel", "sync", "Killed"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
    final = subprocess.run(
        [*cli, "channel", "sync", "Killed"], env=env, capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stderr
    with db.session() as s:
        count = s.scalar(select(func.count()).select_from(Email))
        distinct = s.scalar(select(func.count(func.distinct(Email.message_id))))
    assert kills >= 10, f"only {kills} of 20 processes were still running when killed"
    assert (count, distinct) == (delivered, delivered)
    assert server_uids(mail_server, mailbox) == []
    db.dispose()


def test_idle_delivers_a_new_email_within_two_seconds(mail_server, mailbox, demo_db, secrets):  # type: ignore[no-untyped-def]
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    states = []
    runner = ChannelWorker(demo_db, secrets, states.append)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not any(s.state == "idle" for s in states) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(s.idle_supported for s in states)
        sent = time.monotonic()
        mail_server.deliver(mailbox.address, raw_message(1, "idle order"))
        while not stored(demo_db) and time.monotonic() - sent < 5:
            time.sleep(0.02)
        elapsed = time.monotonic() - sent
        assert stored(demo_db), "not retrieved within 5 s"
        assert elapsed <= 2.0, f"took {elapsed:.2f} s"
        assert stored(demo_db)[0].campaign_id == campaign_id(demo_db, "Orders")
    finally:
        runner.stop()
    assert states[-1].state == "stopped" and states[-1].channel_id == channel


@pytest.mark.timeout(120)  # Python's re never returned on these filters: a hang fails here
def test_backtracking_filters_do_not_stall_retrieval_and_the_channel_warns(  # type: ignore[no-untyped-def]
    mail_server, mailbox, demo_db, secrets
):
    from app.db.models import Filter, FilterField, FilterMatch

    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    hostile = "a" * 41 + "!"  # issue 11, item 5
    channels = ChannelService(demo_db, SYSTEM, secrets)
    channels.add_filter(
        channel, FilterData("body", "regex", r"^(a+)+$", campaign_id(demo_db, "Returns"))
    )
    with demo_db.session() as s:  # one the check at save refuses, saved before it existed
        s.add(
            Filter(
                channel_id=channel,
                priority=9,
                field=FilterField.SUBJECT,
                match=FilterMatch.REGEX,
                keyword=r"^(a|aa)+$",
                campaign_id=campaign_id(demo_db, "Complaints"),
            )
        )
    body = "Grüße, message number 1".encode()
    message = raw_message(1, hostile).replace(body, hostile.encode())  # subject and body
    mail_server.deliver(mailbox.address, message)
    states = []
    runner = ChannelWorker(demo_db, secrets, states.append)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not any(s.state == "idle" for s in states) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.stop()
    idle = next(s for s in states if s.state == "idle")
    slow = "Subject regular expression '^(a|aa)+$'"
    assert idle.last_report is not None and "1 stored" in idle.last_report
    assert f"filter {slow} timed out on 1 email" in idle.last_report  # `channel sync` prints it
    assert idle.warning is not None and f"filter {slow} timed out on 1 email" in idle.warning
    assert f"warning: filter {slow} timed out" in idle.describe()  # status bar, channel screen
    [email] = stored(demo_db)
    assert email.campaign_id == campaign_id(demo_db, "General Enquiries")  # on to the default
    routed = dict(history_of(demo_db, email.id))["routed"]
    assert f"filter {slow} skipped" in routed
    assert server_uids(mail_server, mailbox) == []


@pytest.mark.parametrize("problem", ["password", "port", "ca", "folder", "starttls", "lookup"])
def test_test_connection_names_the_failure(mail_server, mailbox, demo_db, secrets, problem):  # type: ignore[no-untyped-def]
    kwargs: dict[str, object] = {}
    if problem == "password":
        kwargs["password"] = "wrong-password"
    elif problem == "port":
        import socket

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        kwargs["port"] = probe.getsockname()[1]
        probe.close()
    elif problem == "ca":
        kwargs["ca_file"] = ""
    elif problem == "folder":
        kwargs["folder"] = "Nonexistent"
    elif problem == "starttls":
        kwargs.update(port=mail_server.imap_port, security=Security.STARTTLS)
    elif problem == "lookup":
        kwargs["host"] = "imap.no-such-host.invalid"  # .invalid never resolves (RFC 2606)
    channel = make_channel(demo_db, mail_server, mailbox, secrets, **kwargs)  # type: ignore[arg-type]
    result = check_channel(demo_db, channel, secrets)
    expected = {
        "password": "refused the login",
        "port": "refused the connection",
        "ca": "is not trusted",
        "folder": "cannot be opened",
        "lookup": "The name 'imap.no-such-host.invalid' could not be found",
    }
    if problem == "starttls":
        assert result.imap_ok, result.imap_message
    else:
        assert not result.imap_ok
        assert expected[problem] in result.imap_message, result.imap_message
    if problem in ("password", "ca"):
        assert not result.smtp_ok
    else:
        assert result.smtp_ok, result.smtp_message


# ---- large messages: batches capped by bytes (issue 11, item 13) -------------------------------


def large_message(n: int, size: int) -> bytes:
    """A message of about ``size`` bytes (a long text body)."""
    line = b"The scan of my receipt, as text, line after line. " * 19 + b"\r\n"
    return raw_message(n) + line * (size // len(line))


@pytest.mark.parametrize("processes", [1, 2])
def test_large_messages_are_fetched_in_batches_capped_by_bytes_and_all_stored(  # type: ignore[no-untyped-def]
    mail_server, mailbox, demo_db, secrets, monkeypatch, tmp_path, processes
):
    """Batches hold at most FETCH_BYTES (1 MB here), by the sizes Dovecot gives, a larger
    message (1.5 MB, and one of 50 MB as in the issue) in a batch of its own; in one process
    and in two (forked); every message stored exactly as it was on the server."""
    from app.channel_service import forked, sync
    from app.mail import imap

    monkeypatch.setattr(imap, "FETCH_BYTES", 1_000_000)
    if processes == 2:
        monkeypatch.setattr(forked, "can_fork", lambda: True)
        monkeypatch.setattr(sync, "FORK_FROM", 10)
    small = [raw_message(n) for n in range(40)]
    raws = [
        *small[:10],
        large_message(100, 600_000),
        large_message(101, 600_000),  # with the one before: over 1 MB
        *small[10:20],
        large_message(102, 1_500_000),  # over the cap: alone
        *small[20:30],
        large_message(103, 50_000_000),  # the 50 MB
        *small[30:],
        large_message(104, 600_000),
    ]
    with mail_server.imap(mailbox.address) as client:
        for start in range(0, len(raws), 10):
            client.multiappend("INBOX", raws[start : start + 10])
    uids = server_uids(mail_server, mailbox)

    fetched = tmp_path / "batches"  # (written by the child too, in a forked pass)
    real = imap.ImapSession._fetch_bodies

    def recorded(self, batch: list[int]) -> dict[int, bytes]:  # type: ignore[no-untyped-def]
        bodies = real(self, batch)
        with fetched.open("a") as out:
            out.write(f"{','.join(map(str, batch))} {sum(map(len, bodies.values()))}\n")
        return bodies

    monkeypatch.setattr(imap.ImapSession, "_fetch_bodies", recorded)
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    report = sync_channel(demo_db, channel, secrets)
    assert (report.fetched, report.stored, report.acted_on) == (len(raws),) * 3, report.summary()

    batches = [
        ([int(uid) for uid in line.split()[0].split(",")], int(line.split()[1]))
        for line in fetched.read_text().splitlines()
    ]
    assert [uid for batch, _ in batches for uid in batch] == uids  # each once, in order
    for batch, size in batches:
        assert len(batch) <= imap.FETCH_BATCH
        assert size <= 1_000_000 or len(batch) == 1, (batch, size)
    alone = {size for batch, size in batches if len(batch) == 1 and size > 1_000_000}
    assert alone == {len(raws[22]), len(raws[33])}  # the 1.5 MB and the 50 MB message
    assert len(batches) >= 6

    with demo_db.session() as s:
        rows = s.execute(select(Email.raw, Email.is_oversize).order_by(Email.uid)).all()
    assert [raw for raw, _ in rows] == raws
    assert [n for n, (_, oversize) in enumerate(rows) if oversize] == [33]  # over 25 MB
    assert server_uids(mail_server, mailbox) == []
