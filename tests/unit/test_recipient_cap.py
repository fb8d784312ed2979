"""Max Recipients per Reply (issue 11, item 6): the channel's cap, kept by its migration, its
service and the configuration file, and a reply to more recipients refused before anything
is queued — 100,000 typed ones at once."""

from __future__ import annotations

import copy
import time
from dataclasses import fields, replace

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text, update

from app.db import migrate
from app.db.engine import Database
from app.db.models import Campaign, Channel, Email, EmailStatus, Reply
from app.services import demo
from app.services.auth import SYSTEM
from app.services.channels import ChannelData, ChannelService
from app.services.config_io import export_config, import_config
from app.services.errors import ValidationError
from app.services.intake import Fetched, Intake
from app.services.work import AddressesNeedConfirmation, ReplyText, WorkService
from tests.conftest import actor_of
from tests.unit.test_outbox import new_email, queue, support_channel
from tests.work_data import add_email

# ---- the setting ----------------------------------------------------------------------------


def channel_data(db: Database, channel_id: int) -> ChannelData:
    with db.session() as s:
        channel = s.get_one(Channel, channel_id)
        return ChannelData(**{f.name: getattr(channel, f.name) for f in fields(ChannelData)})


def set_cap(db: Database, cap: int) -> None:
    with db.session() as s:
        s.execute(update(Channel).values(max_recipients=cap))


def test_the_cap_is_a_whole_number_of_one_or_more(demo_db: Database) -> None:
    channels = ChannelService(demo_db, SYSTEM)
    support = support_channel(demo_db)
    assert channels.get_channel(support).max_recipients == 100  # the default
    data = channel_data(demo_db, support)
    for typed, problem in (
        ("0", "must be 1 or more (got 0)."),
        ("-5", "must be 1 or more (got -5)."),
        ("ten", "'ten' is not a whole number."),
        ("", "is required."),
        ("10001", "must be at most 10000 (got 10001)."),
    ):
        with pytest.raises(ValidationError) as refused:
            channels.update_channel(support, replace(data, max_recipients=typed), None)
        assert (refused.value.field, refused.value.message) == ("Max Recipients per Reply", problem)
    assert channels.update_channel(support, replace(data, max_recipients=" 25 "), None)
    assert channels.get_channel(support).max_recipients == 25


def test_the_configuration_file_carries_the_cap_100_when_absent(
    demo_db: Database, db: Database
) -> None:
    set_cap(demo_db, 25)
    exported = export_config(demo_db)
    assert {c["smtp"]["max_recipients"] for c in exported["channels"]} == {25}
    older = copy.deepcopy(exported)  # a file written before the setting existed
    for channel in older["channels"]:
        del channel["smtp"]["max_recipients"]
    bad = copy.deepcopy(exported)
    bad["channels"][0]["smtp"]["max_recipients"] = 0
    with pytest.raises(ValidationError) as refused:
        import_config(db, SYSTEM, bad)
    # refused by the file's shape check, named by its path
    assert "$.channels[0].smtp.max_recipients: must be from 1 to 10000" in str(refused.value)
    import_config(db, SYSTEM, older)
    assert {c["smtp"]["max_recipients"] for c in export_config(db)["channels"]} == {100}


def test_0008_gives_existing_channels_a_cap_of_100_and_keeps_their_mail(db: Database) -> None:
    """Added and dropped in place: a copied table (SQLite's batch mode) would have cascaded,
    on dropping the old copy, to the channel's UIDs and its emails' channel."""
    demo.seed(db)
    support = support_channel(db)
    raw = b"From: a@example.com\r\nSubject: 1\r\nMessage-ID: <1@x>\r\n\r\nhi\r\n"
    Intake(db, support).store([Fetched("INBOX", 7, 1, raw)])

    def kept() -> list[tuple[int | None, int]]:
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT e.channel_id, u.uid FROM emails e "
                    "JOIN email_uids u ON u.email_id = e.id"
                )
            )
            return [(row[0], row[1]) for row in rows]

    assert kept() == [(support, 1)]
    command.downgrade(migrate.alembic_config(db), "0007")
    assert "max_recipients" not in {c["name"] for c in inspect(db.engine).get_columns("channels")}
    assert kept() == [(support, 1)]
    migrate.upgrade(db)
    with db.session() as s:
        assert set(s.scalars(select(Channel.max_recipients))) == {100}
    assert kept() == [(support, 1)]


# ---- a reply to more recipients -----------------------------------------------------------


def replies(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Reply)) or 0


def status(db: Database, email_id: int) -> EmailStatus:
    with db.session() as s:
        return s.get_one(Email, email_id).status


def test_more_recipients_than_the_channel_allows_are_refused_before_queueing(
    demo_db: Database,
) -> None:
    set_cap(demo_db, 3)
    email_id = new_email(demo_db)
    four = {"to": "a@x.example, b@x.example", "cc": "c@x.example", "bcc": "d@x.example"}
    with pytest.raises(ValidationError) as refused:
        queue(demo_db, email_id, **four)
    assert refused.value.field == "To"
    assert refused.value.message.startswith(
        "has 4 recipients (To, Cc and Bcc together): the channel Support mailbox sends a "
        "reply to at most 3 (its Max Recipients per Reply)."
    )
    assert replies(demo_db) == 0 and status(demo_db, email_id) == EmailStatus.ASSIGNED
    # each address counts once, however often it is typed; three go out
    queue(demo_db, email_id, **{**four, "bcc": "a@x.example"})
    queue(demo_db, new_email(demo_db), **{**four, "bcc": ""})
    assert replies(demo_db) == 2


def test_an_agents_reply_is_counted_as_it_goes_out(demo_db: Database) -> None:
    """Confirmed, "a@x b@y" goes to both: two recipients, though typed as one."""
    set_cap(demo_db, 2)
    with demo_db.session() as s:
        s.execute(
            update(Campaign)
            .where(Campaign.title == "General Enquiries")
            .values(require_address_confirmation=True)
        )
    e = add_email(demo_db, "General Enquiries")
    alice = WorkService(demo_db, actor_of(demo_db, "alice"))
    alice.take(e)
    pair = "a@x.example b@x.example"
    text = ReplyText(to=pair, cc="c@x.example", subject="Re: x", body="y")
    with pytest.raises(ValidationError, match="has 3 recipients") as refused:
        alice.send(e, text, confirmed=[pair])
    assert refused.value.field == "To"
    assert replies(demo_db) == 0 and status(demo_db, e) == EmailStatus.ASSIGNED
    alice.send(e, replace(text, cc=""), confirmed=[pair])
    assert status(demo_db, e) == EmailStatus.ACTIONED


def test_100000_typed_recipients_are_refused_at_once_before_any_question(
    demo_db: Database,
) -> None:
    """The issue's 100,000 recipients (some of them invalid, which would be asked about one
    by one): refused with the count and the limit, nothing queued, in well under a second
    of work (reading and checking them all took seconds)."""
    e = add_email(demo_db, "Orders")  # address confirmation on
    alice = WorkService(demo_db, actor_of(demo_db, "alice"))
    alice.take(e)
    typed = [f"Customer {n} <customer{n}@x.example>" for n in range(99_990)]
    typed += [f"nobody{n} at x.example" for n in range(10)]
    to = ", ".join(typed[:50_000])
    bcc = "; ".join(typed[50_000:])
    template = next(t.template_id for t in alice.templates(e))
    started = time.perf_counter()
    with pytest.raises(ValidationError) as refused:
        alice.send(e, ReplyText(to=to, bcc=bcc, subject="Re: x", body="y", template_id=template))
    elapsed = time.perf_counter() - started
    assert not isinstance(refused.value, AddressesNeedConfirmation)
    assert refused.value.field == "To"
    assert "has 100,000 recipients" in refused.value.message  # as typed
    assert "at most 100 (its Max Recipients per Reply)" in refused.value.message
    assert replies(demo_db) == 0 and status(demo_db, e) == EmailStatus.ASSIGNED
    assert elapsed < 5, elapsed  # (about 0.5 s; checking each address took over 4 s)
