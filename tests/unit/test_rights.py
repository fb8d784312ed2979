"""Rights inside the services (issue 11, item 7): no service hands out a password hash; only
administrators read a channel's secret; a user disabled, deleted or given another role on
one workstation is refused by the services of every other one within a second."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Email, EmailStatus, History, Role
from app.services import auth
from app.services.auth import Actor
from app.services.campaigns import CampaignService
from app.services.channels import ChannelService
from app.services.errors import PermissionDenied
from app.services.people import PeopleService, UserData
from app.services.records import UserRecord
from app.services.secrets import SecretStore
from app.services.work import WorkService
from tests.conftest import actor_of, sign_in_as
from tests.work_data import add_email


def carries_a_hash(obj: Any) -> bool:
    """Whether ``obj`` holds a password hash or could load one: anything but a frozen record
    (a database row could load it), or a record with a password field or a hash among its
    values, its nested records included."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return True
    if not obj.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return True
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if "password" in field.name or (isinstance(value, str) and value.startswith("scrypt$")):
            return True
        nested = value if isinstance(value, tuple) else (value,)
        if any(carries_a_hash(v) for v in nested if dataclasses.is_dataclass(v)):
            return True
    return False


def user_data(user: UserRecord, **changes: Any) -> UserData:
    data = UserData(
        login=user.login,
        display_name=user.display_name,
        email=user.email,
        role=user.role,
        active=user.active,
        team_ids=[t.id for t in user.teams],
    )
    for name, value in changes.items():
        setattr(data, name, value)
    return data


def test_no_service_hands_out_a_password_hash(demo_db: Database, admin: Actor) -> None:
    people = PeopleService(demo_db, admin)
    users = people.list_users()
    assert users and not any(carries_a_hash(u) for u in users)
    members = [m for t in people.list_teams() for m in t.members]
    assert members and not any(carries_a_hash(m) for m in members)
    created = people.create_user(UserData("renee", "Renée"), "s3cret-Größe")
    assert not carries_a_hash(created)
    updated = people.update_user(created.id, UserData("renee", "Renée R."))
    assert not carries_a_hash(updated)
    with pytest.raises(AttributeError):  # (a record: nothing to load it from either)
        _ = created.password_hash
    # ... while the hash is there for signing in
    assert sign_in_as(demo_db, "renee", "s3cret-Größe").login == "renee"


def test_only_administrators_list_users_and_read_channel_secrets(
    demo_db: Database, secrets: SecretStore
) -> None:
    admin, sam, alice = (actor_of(demo_db, n) for n in ("admin", "sam", "alice"))
    channel = ChannelService(demo_db, admin, secrets).list_channels()[0].id
    ChannelService(demo_db, admin, secrets).set_password(channel, "inbound", "imap-secret-1")
    for actor in (alice, sam):
        with pytest.raises(PermissionDenied):
            PeopleService(demo_db, actor).list_users()
        with pytest.raises(PermissionDenied):
            ChannelService(demo_db, actor, secrets).get_password(channel, "inbound")
        with pytest.raises(PermissionDenied):
            ChannelService(demo_db, actor, secrets).has_password(channel, "inbound")
    with pytest.raises(PermissionDenied):
        PeopleService(demo_db, alice).list_teams()
    assert PeopleService(demo_db, sam).list_teams()  # the campaign dialog's Assigned Teams
    svc = ChannelService(demo_db, admin, secrets)
    assert svc.get_password(channel, "inbound") == "imap-secret-1"  # Test Connection
    assert svc.has_password(channel, "inbound") and not svc.has_password(channel, "outbound")


@pytest.fixture
def other_workstation(demo_db: Database) -> Iterator[Database]:
    """The same database opened a second time, as another workstation does."""
    other = Database(demo_db.url)
    yield other
    other.dispose()


def refused_within(seconds: float, call: Callable[[], object]) -> float:
    """Call again and again until the service refuses; how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            call()
        except PermissionDenied:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"still allowed after {seconds} s")


def test_a_disabled_user_is_refused_on_every_workstation_within_a_second(
    demo_db: Database, other_workstation: Database, admin: Actor
) -> None:
    alice = actor_of(other_workstation, "alice")
    work = WorkService(other_workstation, alice)
    assert work.queues()  # signed in and working: what the services know is fresh
    people = PeopleService(demo_db, admin)  # the administrator's workstation
    user = next(u for u in people.list_users() if u.login == "alice")
    people.update_user(user.id, user_data(user, active=False))
    assert refused_within(2.0, work.queues) <= auth.RIGHTS_MAX_AGE + 0.5
    with pytest.raises(auth.AccountDisabled, match="disabled"):
        work.take_next()
    with pytest.raises(auth.AccountDisabled):
        PeopleService(other_workstation, alice).set_password(user.id, "another-password")


def test_a_change_is_refused_at_the_next_call_once_read_again(
    demo_db: Database, other_workstation: Database, admin: Actor, monkeypatch
) -> None:
    """What the one-second cache waits for: the next call reads the row again."""
    monkeypatch.setattr(auth, "RIGHTS_MAX_AGE", 0.0)
    sam = actor_of(other_workstation, "sam")
    campaigns = CampaignService(other_workstation, sam)
    campaigns.create_group("Allowed while a supervisor")
    people = PeopleService(demo_db, admin)
    user = next(u for u in people.list_users() if u.login == "sam")
    people.update_user(user.id, user_data(user, role=Role.AGENT))
    with pytest.raises(PermissionDenied, match=r"\(Agent\) may not configure"):
        campaigns.create_group("Refused as an agent")
    assert WorkService(other_workstation, sam).queues() is not None  # an agent's work goes on
    people.delete_user(user.id)
    with pytest.raises(auth.AccountDisabled, match="no longer exists"):
        WorkService(other_workstation, sam).queues()


def test_a_demoted_supervisor_loses_the_supervisors_rights_within_a_second(
    demo_db: Database, other_workstation: Database, admin: Actor
) -> None:
    sam = actor_of(other_workstation, "sam")
    campaigns = CampaignService(other_workstation, sam)
    campaigns.create_group("Before")
    people = PeopleService(demo_db, admin)
    user = next(u for u in people.list_users() if u.login == "sam")
    people.update_user(user.id, user_data(user, role=Role.AGENT))
    refused_within(2.0, lambda: campaigns.create_group(f"After {time.monotonic()}"))


def test_in_the_same_process_a_change_counts_at_once(demo_db: Database, admin: Actor) -> None:
    alice = actor_of(demo_db, "alice")
    work = WorkService(demo_db, alice)
    assert work.queues() is not None
    people = PeopleService(demo_db, admin)
    user = next(u for u in people.list_users() if u.login == "alice")
    people.update_user(user.id, user_data(user, active=False))
    with pytest.raises(auth.AccountDisabled):
        work.queues()


def test_disabling_returns_the_users_held_emails_and_keeps_drafts(
    demo_db: Database, admin: Actor
) -> None:
    alice = actor_of(demo_db, "alice")
    held = add_email(demo_db, "Orders")
    WorkService(demo_db, alice).take(held)
    people = PeopleService(demo_db, admin)
    user = next(u for u in people.list_users() if u.login == "alice")
    people.update_user(user.id, user_data(user, active=False))
    with demo_db.session() as s:
        email = s.get_one(Email, held)
        assert (email.status, email.agent_id) == (EmailStatus.QUEUED, None)
        note = s.scalars(
            select(History.detail).where(History.email_id == held).order_by(History.id.desc())
        ).first()
    assert note == "Returned to the queue: Alice Agent's account was disabled by Ada Administrator"


def test_the_command_line_and_sign_in_are_not_held_up(demo_db: Database) -> None:
    """The command line acts without a user; a sign-in makes the rights fresh."""
    assert auth.current_actor(demo_db, auth.SYSTEM) is auth.SYSTEM
    actor = sign_in_as(demo_db, "alice", "demo-password")
    assert auth.current_actor(demo_db, actor) == actor
