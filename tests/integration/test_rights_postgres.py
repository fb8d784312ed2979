"""On PostgreSQL a workstation hears at once that a user's role or enabled state changed
(issue 11, item 7: migration 0010's trigger), and only then: the heartbeat every workstation
writes into the same rows says nothing, and changes of emails are counted apart."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from app.db.engine import Database
from app.db.models import Role, User
from app.services import presence
from app.services.changes import ChangeFeed
from tests.conftest import ON_POSTGRES
from tests.waiting import wait_for
from tests.work_data import add_email

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not ON_POSTGRES, reason="LISTEN/NOTIFY: the PostgreSQL run has it"),
]


def test_a_role_change_is_heard_and_a_heartbeat_is_not(demo_db: Database) -> None:
    feed = ChangeFeed(demo_db)
    feed.start()
    other = Database(demo_db.url)  # another workstation
    try:
        assert wait_for(lambda: feed.listening, 10)
        assert wait_for(lambda: feed.users_token() is not None, 2)
        quiet = feed.users_token()
        with other.session() as s:
            alice = s.query(User).filter_by(login="alice").one().id
        emails = feed.token()
        presence.heartbeat(other, alice)
        add_email(other, "Orders")
        assert wait_for(lambda: feed.token() != emails, 2)  # heard, and counted apart
        time.sleep(1.2)  # (a notification would have come by now)
        assert feed.users_token() == quiet
        with other.session() as s:
            s.execute(update(User).where(User.id == alice).values(role=Role.SUPERVISOR))
        assert wait_for(lambda: feed.users_token() != quiet, 2)
        heard = feed.users_token()
        with other.session() as s:
            s.execute(update(User).where(User.id == alice).values(active=False))
        assert wait_for(lambda: feed.users_token() != heard, 2)
    finally:
        feed.stop()
        other.dispose()
