"""A shared site's attempts to sign in, counted at the workstation (PostgreSQL checks the
passwords there): the same blocks as the app's own sign-in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db.models import utcnow
from app.services.auth import BLOCK_FROM, LocalAttempts, SignInBlocked
from app.services.errors import AuthenticationError


def test_the_fifth_failure_blocks_the_login_name_in_every_spelling_until_it_runs_out() -> None:
    attempts = LocalAttempts()
    now = utcnow()
    for _ in range(BLOCK_FROM - 1):
        attempts.check("Alice", now)
        refusal = attempts.failed("Alice", now)
        assert type(refusal) is AuthenticationError
    blocked = attempts.failed("alice", now)
    assert isinstance(blocked, SignInBlocked) and "blocked until" in str(blocked)
    with pytest.raises(SignInBlocked, match="Too many attempts"):
        attempts.check("ALICE", now + timedelta(seconds=29))
    attempts.check("alice", now + timedelta(seconds=31))  # the 30-s block is over
    attempts.check("bob", now)  # another login name is not held up
    attempts.succeeded("alice")
    attempts.check("alice", now)
    assert type(attempts.failed("alice", now)) is AuthenticationError  # counted afresh
