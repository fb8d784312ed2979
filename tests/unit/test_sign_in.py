"""The app's own sign-in (issue 11, item 8): attempts counted per login name in the
database, so that a block spans workstations; unknown login names counted and checked the
same way; scrypt at OWASP's parameters, older hashes renewed at the next sign-in.

The SQLite file's: on a shared PostgreSQL site the server checks each person's own login
(issue 13; tests/integration/test_roles_postgres.py, and the workstation's own count of
attempts in tests/unit/test_local_attempts.py)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.db.engine import Database
from app.db.models import SignInFailure, User, utcnow
from app.services import auth
from app.services.errors import AuthenticationError

WRONG = "The login name or password is not correct."
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def other_workstation(demo_db: Database) -> Iterator[Database]:
    other = Database(demo_db.url)
    yield other
    other.dispose()


@pytest.fixture
def scrypt_calls(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """The N of every scrypt computed (the real one still runs)."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(password, *, salt, n, r, p, maxmem=0, dklen=64):  # type: ignore[no-untyped-def]
        calls.append(n)
        return real(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)

    monkeypatch.setattr(auth.hashlib, "scrypt", counting)
    return calls


def failure(db: Database, login: str, password: str, **kwargs: object) -> str:
    with pytest.raises(AuthenticationError) as refused:
        auth.sign_in(db, login, password, **kwargs)  # type: ignore[arg-type]
    return str(refused.value)


def failures(db: Database) -> dict[str, int]:
    with db.session() as s:
        return dict(s.execute(select(SignInFailure.login_key, SignInFailure.failures)).all())


@pytest.mark.parametrize("login", ["alice", "nobody"])  # a login that exists, and one that not
def test_five_failures_block_the_login_on_every_workstation(  # type: ignore[no-untyped-def]
    demo_db: Database, other_workstation: Database, login: str
) -> None:
    now = utcnow()
    for n in range(4):
        workstation = demo_db if n % 2 else other_workstation
        spelt = login.upper() if n == 3 else login  # one count for every letter case
        assert failure(workstation, spelt, "wrong-password", now=now) == WRONG
    fifth = failure(demo_db, login, "wrong-password", now=now)
    assert fifth.startswith(f"{WRONG} After 5 attempts without success, signing in as this ")
    assert "blocked until" in fifth and "(in 30 s)" in fifth
    # on the other workstation, even with the right password: not looked at
    blocked = failure(other_workstation, login, "demo-password", now=now + timedelta(seconds=10))
    assert blocked.startswith("Too many attempts to sign in without success")
    assert "(in 20 s)" in blocked
    assert failures(demo_db) == {login: 5}  # a blocked attempt is not counted
    # after the block: one more try, then a longer block
    later = now + timedelta(seconds=31)
    assert "(in 60 s)" in failure(demo_db, login, "wrong-password", now=later)
    if login == "alice":
        later += timedelta(seconds=61)
        assert auth.sign_in(other_workstation, "alice", "demo-password", now=later)
        assert failures(demo_db) == {}  # a success ends the count
        assert failure(demo_db, login, "wrong-password", now=later) == WRONG


def test_blocks_grow_to_fifteen_minutes(demo_db: Database) -> None:
    now = utcnow()
    waits = []
    for _attempt in range(10):
        message = failure(demo_db, "alice", "wrong-password", now=now)
        if "blocked until" in message:
            until = message.split("(in ")[1].rstrip(").")
            waits.append(until)
            with demo_db.session() as s:
                now = s.scalars(select(SignInFailure.locked_until)).one() or now
    assert waits == ["30 s", "60 s", "2 minutes", "4 minutes", "8 minutes", "15 minutes"]


def test_an_unknown_login_costs_a_password_check_like_a_known_one(  # type: ignore[no-untyped-def]
    demo_db: Database, scrypt_calls: list[int]
) -> None:
    failure(demo_db, "alice", "wrong-password")
    known = list(scrypt_calls)
    scrypt_calls.clear()
    failure(demo_db, "nobody-at-all", "wrong-password")
    assert known == scrypt_calls == [2**17]
    scrypt_calls.clear()
    with demo_db.session() as s:  # disabled, and without a password
        s.execute(update(User).where(User.login == "bob").values(active=False))
        s.execute(update(User).where(User.login == "jurgen").values(password_hash=None))
    assert failure(demo_db, "bob", "demo-password") == WRONG
    assert failure(demo_db, "jurgen", "demo-password") == WRONG
    assert scrypt_calls == [2**17, 2**17]


def old_hash(password: str) -> str:
    """A hash as the app made them before (scrypt N=2**15)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=2**15, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt$32768$8$1${b64(salt).decode()}${b64(digest).decode()}"


def stored_hash(db: Database, login: str) -> str:
    with db.session() as s:
        found = s.scalar(select(User.password_hash).where(User.login == login))
        assert found is not None
        return found


def test_owasp_parameters_and_old_hashes_renewed_at_the_next_sign_in(  # type: ignore[no-untyped-def]
    demo_db: Database, scrypt_calls: list[int]
) -> None:
    assert auth.hash_password("a-new-password").startswith("scrypt$131072$8$1$")
    assert stored_hash(demo_db, "alice").startswith("scrypt$131072$8$1$")  # the demo's too
    with demo_db.session() as s:
        s.execute(update(User).where(User.login == "alice").values(password_hash=old_hash("pw-1")))
    scrypt_calls.clear()
    assert failure(demo_db, "alice", "wrong-password") == WRONG
    assert scrypt_calls == [2**15, 2**17]  # a wrong one: as long as a current hash takes
    assert stored_hash(demo_db, "alice").startswith("scrypt$32768$")  # not renewed
    assert auth.sign_in(demo_db, "alice", "pw-1").login == "alice"
    renewed = stored_hash(demo_db, "alice")
    assert renewed.startswith("scrypt$131072$8$1$")
    assert auth.verify_password("pw-1", renewed)
    assert auth.sign_in(demo_db, "alice", "pw-1").login == "alice"
    assert stored_hash(demo_db, "alice") == renewed  # current: left as it is


def test_a_hash_asking_for_too_much_memory_is_refused_not_allocated(demo_db: Database) -> None:
    huge = auth.hash_password("x").replace("scrypt$131072$", "scrypt$1073741824$")
    assert not auth.verify_password("x", huge)


def test_counts_of_unknown_names_stay_bounded(demo_db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(auth, "MAX_FAILURE_ROWS", 3)
    monkeypatch.setattr(auth, "_DUMMY_HASH", auth._DUMMY_HASH.replace("131072", "1024"))  # fast
    start = utcnow() - timedelta(days=2)
    failure(demo_db, "old-name", "x", now=start)
    for n in range(6):
        failure(demo_db, f"sprayed-{n}", "x", now=start + timedelta(days=1, hours=1, seconds=n))
    with demo_db.session() as s:
        assert s.scalar(select(func.count()).select_from(SignInFailure)) <= 4
    assert "old-name" not in failures(demo_db)  # a day old: gone
    assert "sprayed-5" in failures(demo_db)  # the newest stay
