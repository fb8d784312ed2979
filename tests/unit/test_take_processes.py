"""Taking is atomic across processes: agents in separate processes emptying one queue of
2,000 emails on SQLite — each email held by exactly one agent, none lost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from app.db.engine import Database
from app.db.models import Email, EmailStatus, Role, Team, User
from app.services.auth import SYSTEM
from app.services.people import PeopleService, UserData
from tests.work_data import T0, campaign_id

AGENTS = 8
EMAILS = 2000
ROOT = Path(__file__).resolve().parents[2]


def test_eight_processes_take_from_one_queue(demo_db: Database) -> None:
    people = PeopleService(demo_db, SYSTEM)
    with demo_db.session() as s:
        front_line = s.scalar(select(Team.id).where(Team.name == "Front Line"))
    assert front_line is not None
    logins = [f"agent{i}" for i in range(AGENTS)]
    for login in logins:
        people.create_user(
            UserData(
                login, f"Agent {login}", f"{login}@example.com", Role.AGENT, True, [front_line]
            ),
            None,
        )
    orders = campaign_id(demo_db, "Orders")
    with demo_db.session() as s:
        s.execute(
            insert(Email),
            [
                {
                    "campaign_id": orders,
                    "status": EmailStatus.QUEUED,
                    "from_addr": f"c{i}@customers.example",
                    "subject": f"Order {i}",
                    "received_at": T0 + timedelta(seconds=i),
                    "queued_at": T0 + timedelta(seconds=i),
                    "raw": b"Subject: x\r\n\r\nbody\r\n",
                }
                for i in range(EMAILS)
            ],
        )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.take_worker", demo_db.url, login],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for login in logins
    ]
    reported: dict[str, list[int]] = {}
    for login, worker in zip(logins, workers, strict=True):
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
        reported[login] = [int(line) for line in out.split()]

    every = [email_id for ids in reported.values() for email_id in ids]
    twice = [email_id for email_id, n in Counter(every).items() if n > 1]
    assert twice == []
    assert len(every) == EMAILS
    # More than one agent got work (the processes really ran side by side).
    assert sum(1 for ids in reported.values() if ids) >= 2
    with demo_db.session() as s:
        held = dict(
            s.execute(select(Email.id, User.login).join(User, Email.agent_id == User.id)).all()
        )
        left = s.scalar(
            select(func.count()).select_from(Email).where(Email.status == EmailStatus.QUEUED)
        )
    assert left == 0
    for login, ids in reported.items():
        assert all(held[email_id] == login for email_id in ids)
    # Each agent took in queue order: the oldest first.
    for ids in reported.values():
        assert ids == sorted(ids)
