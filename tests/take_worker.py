"""One agent's process for the concurrency tests: take emails until the queues are empty.

    python -m tests.take_worker DATABASE_URL LOGIN [--reply]

Prints the ids it took (and, with --reply, answered), one per line, flushing each, so that a
parent sees exactly what each agent got."""

from __future__ import annotations

import sys

from app.db.engine import Database
from app.services.work import ReplyText, WorkService
from tests.conftest import actor_of


def main(argv: list[str]) -> int:
    url, login = argv[0], argv[1]
    reply = "--reply" in argv
    db = Database(url)
    work = WorkService(db, actor_of(db, login))
    while (taken := work.take_next()) is not None:
        if reply:
            work.send(taken, ReplyText(to="zoe@customers.example", subject="Re: x", body="y"))
        print(taken, flush=True)
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
