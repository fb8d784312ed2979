"""Sign-in benchmark (issue 11, item 8): how fast passwords can be guessed through the app's
own sign-in, and whether a login name that exists answers as a missing one does.

    .venv/bin/python bench/sign_in.py                    # a temporary SQLite database
    .venv/bin/python bench/sign_in.py --database postgresql://app:app@host/db
    .venv/bin/python bench/sign_in.py --repeat 9

Prints, for ``app.services.auth.sign_in``:

- the time of one sign-in with a wrong password for a login that exists, for one that does
  not, for a disabled user, and with the right password (median of ``--repeat`` rounds of
  the four, the attempts' count cleared before each so that no block gets in the way);
- guesses per second for one login before the back-off (its first attempts, back to back);
- guesses per second under the back-off: 10 s of hammering one login in real time, and one
  simulated hour (the clock handed to ``sign_in`` jumps to the end of each block, as a
  patient attacker would wait; each attempt still takes its real time).

A guess is an attempt whose password is checked; an attempt refused while blocked is not.
"""

# ruff: noqa: E402  (the path is fixed before the other imports)
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, update

from app.db import migrate
from app.db.engine import Database
from app.db.models import SignInFailure, User, utcnow
from app.services import auth
from app.services.auth import SYSTEM
from app.services.errors import AuthenticationError
from app.services.people import PeopleService, UserData

PASSWORD = "the-right-password"


def attempt(db: Database, login: str, password: str, **kwargs: object) -> tuple[float, str]:
    """Seconds one sign-in took, and how it ended ('ok', 'wrong' or 'blocked')."""
    started = time.perf_counter()
    try:
        auth.sign_in(db, login, password, **kwargs)  # type: ignore[arg-type]
        outcome = "ok"
    except auth.SignInBlocked as exc:
        outcome = "wrong" if str(exc).startswith(auth.WRONG) else "blocked"
    except AuthenticationError:
        outcome = "wrong"
    return time.perf_counter() - started, outcome


def clear(db: Database) -> None:
    with db.session() as s:
        s.execute(delete(SignInFailure))


def medians_ms(db: Database, cases: dict[str, tuple[str, str]], repeat: int) -> dict[str, float]:
    """Median time of each case, the cases taken in turn (round after round), so that a
    busy moment of the machine falls on all of them alike."""
    times: dict[str, list[float]] = {label: [] for label in cases}
    for _round in range(repeat):
        for label, (login, password) in cases.items():
            clear(db)
            times[label].append(attempt(db, login, password)[0])
    return {label: statistics.median(t) * 1000 for label, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", help="a database URL (default: a temporary SQLite)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(args.database or f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        migrate.upgrade(db)
        people = PeopleService(db, SYSTEM)
        for login in ("bench-known", "bench-disabled"):
            if not any(u.login == login for u in people.list_users()):
                people.create_user(UserData(login, login), PASSWORD)
        with db.session() as s:
            s.execute(update(User).where(User.login == "bench-disabled").values(active=False))
        print(f"database: {db.describe()}; scrypt N={auth._N}, r={auth._R}, p={auth._P}")
        print(f"median of {args.repeat}:")
        cases = {
            "known login, wrong password": ("bench-known", "wrong-password"),
            "unknown login": ("bench-nobody", "wrong-password"),
            "disabled user, right password": ("bench-disabled", PASSWORD),
            "known login, right password": ("bench-known", PASSWORD),
        }
        for label, ms in medians_ms(db, cases, args.repeat).items():
            print(f"  {label:32} {ms:8.1f} ms")

        clear(db)
        started = time.perf_counter()
        guesses = 0
        while True:  # back to back until the first block
            _seconds, outcome = attempt(db, "bench-known", "wrong-password")
            guesses += 1
            if outcome != "wrong" or guesses >= auth.BLOCK_FROM:
                break
        elapsed = time.perf_counter() - started
        print(
            f"before the back-off: {guesses} guesses in {elapsed:.2f} s = "
            f"{guesses / elapsed:.2f} guesses/s"
        )

        clear(db)
        started = time.perf_counter()
        tries = guesses = 0
        while time.perf_counter() - started < 10:
            _seconds, outcome = attempt(db, "bench-known", "wrong-password")
            tries += 1
            guesses += outcome == "wrong"
        elapsed = time.perf_counter() - started
        print(
            f"hammering for {elapsed:.0f} s: {tries} attempts, {guesses} guesses = "
            f"{guesses / elapsed:.3f} guesses/s"
        )

        clear(db)
        clock = utcnow()
        end = clock + timedelta(hours=1)
        guesses = 0
        while clock < end:
            seconds, outcome = attempt(db, "bench-known", "wrong-password", now=clock)
            clock += timedelta(seconds=seconds)
            if outcome == "wrong":
                guesses += 1
            else:  # wait for the end of the block, not a moment longer
                with db.session() as s:
                    until = s.get_one(SignInFailure, "bench-known").locked_until
                clock = max(clock, until) if until is not None else clock
        print(
            f"one simulated hour of patient guessing: {guesses} guesses = "
            f"{guesses / 3600:.4f} guesses/s"
        )
        clear(db)
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
