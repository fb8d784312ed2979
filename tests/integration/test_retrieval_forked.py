"""Long passes fetch and read in a second process (app/channel_service/forked.py): the same
emails as in one process, exactly once through kills of either process."""

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

from app.channel_service import forked, servers, sync
from app.channel_service.sync import sync_channel
from app.db.engine import Database
from app.db.models import AfterRetrieval, Email, EmailUid, History
from app.mail.imap import FETCH_BATCH
from app.services.auth import SYSTEM
from app.services.channels import ChannelService, FilterData
from app.services.secrets import PlainFileStore, choose_plain_file_fallback
from tests.corpus import own_corpus, require_cpython_corpus
from tests.integration.test_retrieval import (
    campaign_id,
    demo_by_cli,
    make_channel,
    raw_message,
    server_uids,
)

pytestmark = pytest.mark.server


def messages(count: int) -> list[bytes]:
    """Plain, MIME and malformed messages, all different, some matching a Body filter."""
    corpus = [p.read_bytes() for p in require_cpython_corpus() + own_corpus()]
    malformed = [
        b"From: foo <a@b\r\nSubject: unclosed\r\n\r\nbody\r\n",
        b"From: a@b.c\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n",
        b"From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n"
        b"--Z\r\nContent-Type: text/plain\r\n\r\ntruncated",
    ]
    out = []
    for n in range(count):
        if n % 10 == 3:
            out.append(b"X-Seq: %d\r\n" % n + corpus[n % len(corpus)])
        elif n % 10 == 7:
            out.append(b"X-Seq: %d\r\n" % n + malformed[n % len(malformed)])
        else:
            subject = "refund please" if n % 3 == 0 else None
            out.append(raw_message(n, subject).replace(b"message number", b"K\xc3\xbcndigung"))
    return out


def append(server, address: str, raws: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    with server.imap(address) as client:
        for start in range(0, len(raws), 100):
            client.multiappend("INBOX", raws[start : start + 100])


def add_body_filter(db: Database, store, channel: int) -> None:  # type: ignore[no-untyped-def]
    ChannelService(db, SYSTEM, store).add_filter(
        channel, FilterData("body", "contains", "kündigung", campaign_id(db, "Complaints"))
    )


def columns(db: Database, channel: int) -> list[tuple[object, ...]]:
    with db.session() as s:
        rows = s.execute(
            select(
                Email.uid,
                Email.subject,
                Email.from_addr,
                Email.campaign_id,
                Email.status,
                Email.text_body,
                Email.html_body,
                Email.content_hash,
                Email.raw,
            )
            .where(Email.channel_id == channel)
            .order_by(Email.uid)
        )
        return [tuple(r) for r in rows]


def test_can_fork_only_when_no_other_thread_runs() -> None:
    assert forked.can_fork() == (threading.active_count() == 1 and sys.platform == "linux")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not forked.can_fork()
    finally:
        release.set()
        other.join()


def test_a_forked_pass_stores_what_one_process_stores(  # type: ignore[no-untyped-def]
    mail_server, demo_db, secrets, monkeypatch
):
    raws = messages(260)
    one, two = mail_server.new_mailbox("oneproc"), mail_server.new_mailbox("forked")
    append(mail_server, one.address, raws)
    append(mail_server, two.address, raws)
    plain = make_channel(demo_db, mail_server, one, secrets, name="One")
    split = make_channel(demo_db, mail_server, two, secrets, name="Two")
    for channel in (plain, split):
        add_body_filter(demo_db, secrets, channel)

    used: list[forked.ForkedReader] = []
    real = forked.ForkedReader

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(real(*args, **kwargs))
        return used[-1]

    monkeypatch.setattr(forked, "ForkedReader", spy)
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    monkeypatch.setattr(sync, "FORK_FROM", 10**9)
    report = sync_channel(demo_db, plain, secrets)
    assert report.stored == len(raws) and not used
    monkeypatch.setattr(sync, "FORK_FROM", 100)
    report = sync_channel(demo_db, split, secrets)
    assert len(used) == 1 and used[0].acted == len(raws)
    assert (report.stored, report.acted_on) == (len(raws), len(raws)), report.summary()
    assert columns(demo_db, split) == columns(demo_db, plain)
    assert server_uids(mail_server, two) == []
    complaints = campaign_id(demo_db, "Complaints")
    assert sum(1 for row in columns(demo_db, split) if row[3] == complaints) > 100


def test_a_forked_pass_makes_copies_one_email_as_one_process_does(  # type: ignore[no-untyped-def]
    mail_server, demo_db, secrets, monkeypatch
):
    raws = messages(260)
    # Copies (the same bytes twice or thrice): in one batch (FETCH_BATCH 200), and in
    # another batch than the first copy.
    delivered = [*raws[:31], raws[30], *raws[31:], raws[5], raws[250], raws[250]]
    one, two = mail_server.new_mailbox("oneproc"), mail_server.new_mailbox("forked")
    append(mail_server, one.address, delivered)
    append(mail_server, two.address, delivered)
    after = AfterRetrieval.MARK_READ  # the copies stay on the server: a pass could fetch them
    plain = make_channel(demo_db, mail_server, one, secrets, name="One", after=after)
    split = make_channel(demo_db, mail_server, two, secrets, name="Two", after=after)

    used: list[forked.ForkedReader] = []
    real = forked.ForkedReader

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(real(*args, **kwargs))
        return used[-1]

    def uids_and_history(channel: int) -> list[tuple[object, ...]]:
        """Each email's known UIDs and History, in order of its last UID."""
        with demo_db.session() as s:
            emails = s.scalars(select(Email).where(Email.channel_id == channel).order_by(Email.uid))
            return [
                (
                    sorted(s.scalars(select(EmailUid.uid).where(EmailUid.email_id == e.id))),
                    [
                        (h.action, h.detail.replace(f"from {e.channel.name} ", "from "))
                        for h in s.scalars(
                            select(History).where(History.email_id == e.id).order_by(History.id)
                        )
                    ],
                )
                for e in emails
            ]

    monkeypatch.setattr(forked, "ForkedReader", spy)
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    monkeypatch.setattr(sync, "FORK_FROM", 10**9)
    one_process = sync_channel(demo_db, plain, secrets)
    assert (one_process.fetched, one_process.stored) == (len(delivered), len(raws))
    assert not used
    monkeypatch.setattr(sync, "FORK_FROM", 100)
    report = sync_channel(demo_db, split, secrets)
    assert len(used) == 1 and used[0].acted == len(delivered)
    assert (report.fetched, report.stored) == (len(delivered), len(raws)), report.summary()
    assert server_uids(mail_server, two, unseen=True) == []
    for channel in (plain, split):  # every copy is known: nothing is fetched again
        assert sync_channel(demo_db, channel, secrets).fetched == 0
    assert uids_and_history(split) == uids_and_history(plain)
    assert columns(demo_db, split) == columns(demo_db, plain)
    copies = [row for row in uids_and_history(split) if len(row[0]) > 1]
    assert [len(known) for known, _ in copies] == [2, 2, 3]
    assert (one_process.copies, report.copies) == (4, 4)


def test_the_fetch_failing_in_the_child_is_raised_and_loses_nothing(  # type: ignore[no-untyped-def]
    mail_server, mailbox, demo_db, secrets, monkeypatch
):
    # More than can be fetched before the restart: the 200 stored when it comes, plus what
    # flow control lets be in flight meanwhile (the batch being stored, one received, one
    # queued, one the child reads, two it fetches ahead, one being fetched: 7 x 200). With
    # 1,500 a CI run on a busy machine fetched them all first, and nothing failed.
    total = 200 + 7 * FETCH_BATCH + 800
    append(mail_server, mailbox.address, messages(total))
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    monkeypatch.setattr(sync, "FORK_FROM", 100)
    restarted = threading.Event()

    def restart_once(done: int, _total: int) -> None:
        if done >= 200 and not restarted.is_set():
            restarted.set()
            mail_server.restart_imap()

    with pytest.raises(Exception):  # noqa: B017 - the pass is cut off, however it is said
        sync_channel(demo_db, channel, secrets, progress=restart_once)
    with demo_db.session() as s:
        partial = s.scalar(select(func.count()).select_from(Email)) or 0
    assert 200 <= partial < total
    sync_channel(demo_db, channel, secrets)
    with demo_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Email)) == total
    assert server_uids(mail_server, mailbox) == []


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except (OSError, ValueError):
        return []


def test_killing_either_process_of_a_forked_pass_loses_and_duplicates_nothing(  # type: ignore[no-untyped-def]
    mail_server, mailbox, tmp_path, isolated_home
):
    url = f"sqlite:///{tmp_path / 'forked.sqlite3'}"
    cli, env, db = demo_by_cli(url, isolated_home)
    store = choose_plain_file_fallback()
    assert isinstance(store, PlainFileStore)
    channel = make_channel(db, mail_server, mailbox, store, name="Forked")
    add_body_filter(db, store, channel)
    trials, per_trial = 6, sync.FORK_FROM + 100  # a pass of FORK_FROM messages or more forks
    raws = messages(trials * per_trial)
    rng = random.Random(20261127)
    kills = {"parent": 0, "child": 0}
    for trial in range(trials):
        append(mail_server, mailbox.address, raws[trial * per_trial : (trial + 1) * per_trial])
        proc = subprocess.Popen(
            [*cli, "channel", "sync", "Forked"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not _children(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.15))
        children = _children(proc.pid)
        victim = ""
        if proc.poll() is None and children:
            victim = "child" if trial % 2 else "parent"
            os.kill(children[0] if victim == "child" else proc.pid, signal.SIGKILL)
            kills[victim] += 1
        proc.wait(timeout=60)
        if children and victim == "parent":  # the orphan ends once it finds the parent gone
            for child in children:
                deadline = time.monotonic() + 30
                while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
    done = subprocess.run(
        [*cli, "channel", "sync", "Forked"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with db.session() as s:
        count = s.scalar(select(func.count()).select_from(Email))
        distinct = s.scalar(select(func.count(func.distinct(Email.content_hash))))
        uids = s.scalar(select(func.count(func.distinct(Email.uid))))
    assert kills["parent"] >= 2 and kills["child"] >= 2, kills
    assert count == uids == distinct == len(raws)
    assert server_uids(mail_server, mailbox) == []
    db.dispose()


def test_detach_closes_this_processs_socket(mail_server, mailbox, demo_db, secrets) -> None:  # type: ignore[no-untyped-def]
    from app.mail.imap import ImapSession

    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    session = ImapSession(servers.imap_settings(demo_db, channel, secrets))
    fd = session.client._imap.sock.fileno()
    session.detach()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed here (the file imaplib made of the socket kept it open before)
