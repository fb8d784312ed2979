"""An agent's workstation without its screens, for the fault campaign (tests/faults.py):

    python -m tests.workstation DATABASE_URL LOGIN

Until SIGTERM (or SIGKILL, which is the point) it works as an agent at My Work does, through
the services: it first finishes the emails it holds (My Work lists them after a restart, or
after an outage in which the answer to a Take next was lost), else takes the next one
(Take next: take and open), and sends the reply the editor starts with (To: the customer,
"Re:" and the subject) with a line of text. A heartbeat every few seconds, as the main
window's. A database that cannot be reached is waited for, and the work goes on where it
was, as the screens try again; a refusal (say, the email is no longer held: a send went
through and only its answer was lost) is noted and the work goes on.

One line per event on standard output, flushed: ``took ID``, ``sent ID REPLY``, ``refused
REASON``, ``unavailable REASON`` (once per outage), ``back``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import User
from app.services import presence
from app.services.auth import Actor, actor_for
from app.services.errors import ServiceError, database_unavailable, unavailable_reason
from app.services.work import ReplyText, WorkService

BODY = "Thank you for writing to us. We are looking into it.\n"
HEARTBEAT_SECONDS = 5.0
RETRY_SECONDS = 0.3  # as the screens' operations try again after an outage (about)
IDLE_SECONDS = 0.2  # between two looks at empty queues


def say(*words: object) -> None:
    print(*words, flush=True)


def signed_in(db: Database, login: str, stopping: threading.Event) -> Actor | None:
    """The agent, read as soon as the database answers (None: stopped first)."""
    while not stopping.is_set():
        try:
            with db.session() as s:
                user = s.scalars(select(User).where(User.login == login)).one()
                return actor_for(user)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            stopping.wait(RETRY_SECONDS)
    return None


def work_once(work: WorkService) -> bool:
    """Answer one email (held, else taken); False when there was none."""
    held = work.held()
    if held:
        email_id = held[0].email_id
        opened = work.open_all(email_id)
    else:
        taken = work.take_and_open()
        if taken is None:
            return False
        opened = taken
        say("took", opened.email_id)
    start = opened.item.reply
    reply_id = work.send(opened.email_id, ReplyText(to=start.to, subject=start.subject, body=BODY))
    say("sent", opened.email_id, reply_id)
    return True


def main(argv: list[str]) -> int:
    url, login = argv[0], argv[1]
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    db = Database(url)
    actor = signed_in(db, login, stopping)
    if actor is None:
        return 0
    work = WorkService(db, actor)
    beat = 0.0
    away = False
    while not stopping.is_set():
        try:
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                presence.heartbeat(db, actor.user_id)
                beat = time.monotonic()
            busy = work_once(work)
        except ServiceError as exc:
            say("refused", str(exc).replace("\n", " "))
            stopping.wait(IDLE_SECONDS)
            continue
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            if not away:
                say("unavailable", unavailable_reason(exc))
                away = True
            stopping.wait(RETRY_SECONDS)
            continue
        if away:
            say("back")
            away = False
        if not busy:
            stopping.wait(IDLE_SECONDS)
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
