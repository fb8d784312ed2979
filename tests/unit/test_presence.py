"""A workstation that goes silent: its agent's held emails return to their queues after the
organisation's timeout; drafts stay; a live workstation keeps its emails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Email, EmailStatus, History, utcnow
from app.services import presence
from app.services.auth import SYSTEM
from app.services.settings import SettingsData, SettingsService
from app.services.work import ReplyText, WorkService
from tests.conftest import actor_of
from tests.work_data import add_email

ROOT = Path(__file__).resolve().parents[2]


def status(db: Database, email_id: int) -> EmailStatus:
    with db.session() as s:
        return s.get_one(Email, email_id).status


def set_timeout(db: Database, minutes: int) -> None:
    settings = SettingsService(db, SYSTEM)
    org = settings.get()
    settings.update(
        SettingsData(
            org.name,
            org.timezone,
            org.date_format,
            org.default_channel_id,
            org.max_message_size // (1024 * 1024),
            held_email_timeout=minutes,
        )
    )


def test_a_silent_workstations_emails_return_after_the_timeout(demo_db: Database) -> None:
    set_timeout(demo_db, 10)
    alice = actor_of(demo_db, "alice")
    work = WorkService(demo_db, alice)
    taken, drafted = add_email(demo_db, "Orders"), add_email(demo_db, "Orders")
    start = utcnow()
    presence.heartbeat(demo_db, alice.user_id, start)
    work.take(taken, now=start)
    work.take(drafted, now=start)
    work.save_draft(drafted, ReplyText(to="zoe@customers.example", subject="Re", body="kept"))
    # Alive: heartbeats keep the emails hers however long she works on them.
    presence.heartbeat(demo_db, alice.user_id, start + timedelta(minutes=25))
    assert presence.return_abandoned(demo_db, start + timedelta(minutes=30)) == []
    # Silent for 9 minutes: not yet.
    assert presence.return_abandoned(demo_db, start + timedelta(minutes=34)) == []
    # Silent for more than 10 minutes: back to the queue; the draft stays hers.
    assert presence.return_abandoned(demo_db, start + timedelta(minutes=36)) == [taken]
    assert status(demo_db, taken) == EmailStatus.QUEUED
    assert status(demo_db, drafted) == EmailStatus.DRAFT
    with demo_db.session() as s:
        detail = s.scalar(
            select(History.detail).where(History.email_id == taken).order_by(History.id.desc())
        )
    assert (
        detail
        == "Returned to the queue: Alice Agent's workstation gave no sign of life for 10 minutes"
    )
    # Twice (two workstations checking at once) returns nothing more.
    assert presence.return_abandoned(demo_db, start + timedelta(minutes=37)) == []


def test_a_killed_workstation_process(demo_db: Database) -> None:
    """A process takes emails and is killed (SIGKILL): nothing is released by it; after the
    timeout the check of any other process returns them."""
    set_timeout(demo_db, 1)
    for _ in range(3):
        add_email(demo_db, "Orders")
    script = (
        "import sys, time\n"
        "from app.db.engine import Database\n"
        "from app.services import presence\n"
        "from app.services.work import WorkService\n"
        "from tests.conftest import actor_of\n"
        "db = Database(sys.argv[1])\n"
        "alice = actor_of(db, 'alice')\n"
        "presence.heartbeat(db, alice.user_id)\n"
        "work = WorkService(db, alice)\n"
        "while work.take_next() is not None: pass\n"
        "print('holding', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, demo_db.url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    with demo_db.session() as s:
        held = s.scalars(select(Email.id).where(Email.status == EmailStatus.ASSIGNED)).all()
    assert len(held) == 3
    assert presence.return_abandoned(demo_db) == []  # within the minute: still hers
    time.sleep(0.1)
    later = utcnow() + timedelta(minutes=1, seconds=5)
    assert sorted(presence.return_abandoned(demo_db, later)) == sorted(held)
