"""Each statement of the hot paths (app/db/hotpath) against a plain reference written with
the ORM or SQLAlchemy's own inserts: the same answers and the same rows written, on the
database of the run (SQLite, or PostgreSQL with EMAIL_CAMPAIGNS_TEST_DATABASE=postgresql).

The reference runs first in a session that is rolled back, what it wrote read before the
rollback; then the hot path runs for real, and both are compared. On PostgreSQL the hot
paths run as single statements on the driver's cursor; they also run there as the several
statements SQLite runs (``several``), which must agree too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Enum,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from app.db import hotpath
from app.db.engine import Database
from app.db.hotpath import driver, sending, taking
from app.db.models import (
    HELD,
    Attachment,
    Campaign,
    CampaignTemplate,
    Channel,
    Email,
    EmailStatus,
    History,
    Organisation,
    Reply,
    ReplyState,
    Template,
    User,
    UTCDateTime,
)
from app.services.history import Entry, write_history
from app.services.outbox.message import sending_channel_id
from tests.conftest import ON_POSTGRES, actor_of
from tests.work_data import T0, add_email, campaign_id

Snapshot = dict[str, Any]


@pytest.fixture(params=["as chosen", "several"])
def several(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the hot paths run as several statements (as on SQLite) — on PostgreSQL also,
    to check both forms there; on SQLite they always do (that run is skipped)."""
    if request.param == "several":
        if not ON_POSTGRES:
            pytest.skip("SQLite always runs the several statements")
        for module in (taking, sending, driver):
            monkeypatch.setattr(module, "single_statements", lambda _conn: False)
        return True
    return False


def snapshot(conn: Session | Connection) -> Snapshot:
    """What the hot paths change: emails' hands, replies and History (without the ids the
    database gives new rows)."""
    emails = {
        row.id: tuple(row[1:])
        for row in conn.execute(
            select(Email.id, Email.status, Email.agent_id, Email.taken_at, Email.actioned_at)
        )
    }
    replies = sorted(
        tuple(row)
        for row in conn.execute(
            select(
                Reply.email_id,
                Reply.agent_id,
                Reply.template_id,
                Reply.to_addrs,
                Reply.cc_addrs,
                Reply.bcc_addrs,
                Reply.subject,
                Reply.body,
                Reply.message_id,
                Reply.state,
                Reply.attempts,
                Reply.last_error,
                Reply.next_attempt_at,
                Reply.created_at,
            )
        )
    )
    history = sorted(
        tuple(row)
        for row in conn.execute(
            select(History.email_id, History.at, History.user_id, History.action, History.detail)
        )
    )
    return {"emails": emails, "replies": replies, "history": history}


def reference(db: Database, work: Callable[[Session], Any]) -> tuple[Any, Snapshot]:
    """What ``work`` answers and leaves written, rolled back afterwards."""
    with db.session() as s:
        answer = work(s)
        s.flush()
        written = snapshot(s)
        s.rollback()
    return answer, written


def stored(db: Database) -> Snapshot:
    with db.session() as s:
        return snapshot(s)


# ---- Take next (taking.py) -------------------------------------------------------------


def take_reference(
    s: Session, user_id: int, now: datetime, detail: str, campaign: int | None
) -> int | None:
    user = s.get_one(User, user_id)
    mine = {c.id for team in user.teams for c in team.campaigns}
    ids = mine if campaign is None else {campaign} & mine
    oldest = s.scalars(
        select(Email)
        .where(Email.status == EmailStatus.QUEUED, Email.campaign_id.in_(ids))
        .order_by(Email.queued_at, Email.id)
        .limit(1)
    ).first()
    if oldest is None:
        return None
    oldest.status, oldest.agent_id, oldest.taken_at = EmailStatus.ASSIGNED, user_id, now
    s.add(History(email_id=oldest.id, at=now, user_id=user_id, action="taken", detail=detail))
    return oldest.id


def test_take_oldest_takes_what_the_reference_takes(demo_db: Database, several: bool) -> None:
    orders, returns = campaign_id(demo_db, "Orders"), campaign_id(demo_db, "Returns")
    complaints = campaign_id(demo_db, "Complaints")  # not Alice's
    for title, minutes in [
        ("Orders", 30),
        ("Returns", 10),
        ("Returns", 10),  # the same time: the lower id first
        ("General Enquiries", 20),
        ("Complaints", 0),
        ("Orders", 5),
    ]:
        add_email(demo_db, title, queued_at=T0 + timedelta(minutes=minutes))
    alice = actor_of(demo_db, "alice").user_id
    assert alice is not None
    now = T0 + timedelta(hours=1)
    steps = [returns, complaints, None, orders, None, None, None, None, orders, None]
    taken = []
    for n, campaign in enumerate(steps):
        at, detail = now + timedelta(seconds=n), f"Taken by Alice ({n})"
        want = reference(
            demo_db,
            partial(take_reference, user_id=alice, now=at, detail=detail, campaign=campaign),
        )
        with demo_db.autocommit() as conn:
            got = hotpath.take_oldest(conn, alice, at, detail, campaign)
        assert (got, stored(demo_db)) == want, (n, campaign)
        taken.append(got)
    assert taken.count(None) == 5 and len(set(taken) - {None}) == 5  # all but Complaints'


def test_campaign_ids_and_any_queued_answer_as_the_orm(demo_db: Database) -> None:
    alice = actor_of(demo_db, "alice").user_id
    with demo_db.session() as s:
        user = s.get_one(User, alice)
        mine = sorted(c.id for team in user.teams for c in team.campaigns)
    with demo_db.autocommit() as conn:
        assert sorted(hotpath.campaign_ids(conn, alice)) == mine
        assert not hotpath.any_queued(conn, mine)
    add_email(demo_db, "Returns")
    with demo_db.autocommit() as conn:
        assert hotpath.any_queued(conn, mine)
        assert not hotpath.any_queued(conn, [campaign_id(demo_db, "Orders")])


# ---- Send's read (sending.sending_facts) ------------------------------------------------

FACTS = (
    "status",
    "agent_id",
    "message_id",
    "in_reply_to",
    "references",
    "campaign",
    "allow_free_format",
    "require_address_confirmation",
    "linked",
    "channel",
    "name",
    "display_name",
    "email_address",
    "max_recipients",
    "draft",
)


def facts_reference(s: Session, email_id: int, template_id: int | None) -> dict[str, Any] | None:
    email = s.get(Email, email_id)
    if email is None:
        return None
    campaign = s.get(Campaign, email.campaign_id) if email.campaign_id is not None else None
    org = s.scalars(select(Organisation)).first()
    channel_id = next(
        (
            c
            for c in (
                campaign.channel_id if campaign is not None else None,
                org.default_channel_id if org is not None else None,
                email.channel_id,
            )
            if c is not None
        ),
        None,
    )
    channel = s.get(Channel, channel_id) if channel_id is not None else None
    linked = None
    if campaign is not None and template_id is not None:
        link = s.get(CampaignTemplate, (campaign.id, template_id))
        linked = template_id if link is not None else None
    drafts = [r.id for r in email.replies if r.state == ReplyState.DRAFT]
    return {
        "status": email.status,
        "agent_id": email.agent_id,
        "message_id": email.message_id,
        "in_reply_to": email.in_reply_to,
        "references": email.references,
        "campaign": campaign.id if campaign else None,
        "allow_free_format": campaign.allow_free_format if campaign else None,
        "require_address_confirmation": (
            campaign.require_address_confirmation if campaign else None
        ),
        "linked": linked,
        "channel": channel.id if channel else None,
        "name": channel.name if channel else None,
        "display_name": channel.display_name if channel else None,
        "email_address": channel.email_address if channel else None,
        "max_recipients": channel.max_recipients if channel else None,
        "draft": max(drafts, default=None),
    }


def draft_of(db: Database, email_id: int, agent: int | None, n: int) -> int:
    with db.session() as s:
        draft = Reply(
            email_id=email_id,
            agent_id=agent,
            state=ReplyState.DRAFT,
            to_addrs="zoe@customers.example",
            subject=f"Re: draft {n}",
            body="…",
            message_id=f"<draft.{email_id}.{n}@draft.invalid>",
            created_at=T0,
        )
        s.add(draft)
        s.flush()
        return draft.id


@pytest.fixture
def held_emails(demo_db: Database) -> Iterator[dict[str, int]]:
    """Emails of every kind Send may read: held by Alice in a campaign (with two drafts),
    in a campaign with an Email Channel of its own, without a campaign, without a channel
    at all (and no organisation default), queued."""
    alice = actor_of(demo_db, "alice").user_id
    emails = {
        "orders": add_email(demo_db, "Orders"),
        "own channel": add_email(demo_db, "General Enquiries"),
        "no campaign": add_email(demo_db, "Returns", channel="Sales mailbox"),
        "nothing": add_email(demo_db, "Returns"),
        "queued": add_email(demo_db, "Orders"),
    }
    with demo_db.session() as s:
        sales = s.scalars(select(Channel.id).where(Channel.name == "Sales mailbox")).one()
        s.get_one(Campaign, campaign_id(demo_db, "General Enquiries")).channel_id = sales
        for name, email_id in emails.items():
            email = s.get_one(Email, email_id)
            if name != "queued":
                email.status, email.agent_id = EmailStatus.ASSIGNED, alice
            if name in ("no campaign", "nothing"):
                email.campaign_id = None
            if name == "nothing":
                email.channel_id = None
                email.in_reply_to, email.references = "<a@x>", "<b@x> <c@x>"
    for n in range(2):
        draft_of(demo_db, emails["orders"], alice, n)
    yield emails


def test_sending_facts_are_what_the_orm_reads(
    demo_db: Database, held_emails: dict[str, int], several: bool
) -> None:
    with demo_db.session() as s:
        templates = {name: id_ for name, id_ in s.execute(select(Template.name, Template.id))}
        no_such_email = (s.scalar(select(func.max(Email.id))) or 0) + 1
    template_ids = [None, templates["Order status"], templates["Return instructions"]]
    for org_default in (True, False):
        if not org_default:
            with demo_db.session() as s:
                s.execute(update(Organisation).values(default_channel_id=None))
        for email_id in [*held_emails.values(), no_such_email]:
            for template_id in template_ids:
                want = reference(
                    demo_db, partial(facts_reference, email_id=email_id, template_id=template_id)
                )
                with demo_db.autocommit() as conn:
                    row = hotpath.sending_facts(conn, email_id, template_id)
                got = None if row is None else {name: getattr(row, name) for name in FACTS}
                assert (got, stored(demo_db)) == want, (email_id, template_id, org_default)


# ---- Opening an email (opening.read_opening, opening.save_decoded) ------------------------


def opening_reference(s: Session, email_id: int, user_id: int, body_limit: int) -> Any:
    """What ``read_opening`` reads, through the ORM's objects and relationships."""
    email = s.get(Email, email_id)
    if email is None:
        return None
    campaign = s.get(Campaign, email.campaign_id) if email.campaign_id else None
    org = s.scalars(select(Organisation)).first()
    sending_id = sending_channel_id(s, email)
    sending_channel = s.get(Channel, sending_id) if sending_id else None
    me = s.get(User, user_id)
    small = email.size <= body_limit
    row = {
        "id": email.id,
        "status": email.status,
        "agent_id": email.agent_id,
        "subject": email.subject,
        "received_at": email.received_at,
        "taken_at": email.taken_at,
        "size": email.size,
        "text_body": email.text_body if small else None,
        "html_body": email.html_body if small else None,
        "raw": email.raw if small else None,
        "campaign": campaign.title if campaign else None,
        "allow_draft": campaign.allow_draft if campaign else None,
        "allow_free_format": campaign.allow_free_format if campaign else None,
        "channel": email.channel.name if email.channel else None,
        "agent": email.agent.display_name if email.agent else None,
        "sending_address": sending_channel.email_address if sending_channel else None,
        "organisation": org.name if org else None,
        "timezone": org.timezone if org else None,
        "my_name": me.display_name if me else None,
        "my_email": me.email if me else None,
    }
    drafts = sorted((r for r in email.replies if r.state == ReplyState.DRAFT), key=lambda r: -r.id)
    draft = (drafts[0].subject, drafts[0].body, drafts[0].template_id) if drafts else None
    templates = sorted(
        (t.name, t.id, t.subject, t.body)
        for t in (link.template for link in (campaign.template_links if campaign else []))
    )
    attachments = sorted(
        (a.part_index, a.id, a.filename, a.content_type, a.size, a.content_id)
        for a in email.attachments
    )
    replies = [
        (r.id, r.state, r.agent.display_name if r.agent else None, r.subject, r.created_at)
        for r in sorted(email.replies, key=lambda r: (r.created_at, r.id))
    ]
    history = [
        (h.at, h.user.display_name if h.user else None, h.action, h.detail)
        for h in sorted(email.history, key=lambda h: (h.at, h.id))
    ]
    return row, draft, templates, attachments, replies, history


def opening_read(conn: Connection, email_id: int, user_id: int, body_limit: int) -> Any:
    found = hotpath.read_opening(conn, email_id, user_id, body_limit)
    if found.email is None:
        return None
    e = found.email
    row = {
        name: getattr(e, name)
        for name in (
            "id", "status", "agent_id", "subject", "received_at", "taken_at", "size",
            "text_body", "html_body", "raw", "campaign", "allow_draft", "allow_free_format",
            "channel", "agent", "sending_address", "organisation", "timezone", "my_name",
            "my_email",
        )
    }  # fmt: skip
    if row["raw"] is not None:
        row["raw"] = bytes(row["raw"])
    d = found.draft
    draft = (d.subject, d.body, d.template_id) if d else None
    templates = [(t.name, t.id, t.subject, t.body) for t in found.templates]
    attachments = [
        (a.part_index, a.id, a.filename, a.content_type, a.size, a.content_id)
        for a in found.attachments
    ]
    replies = [(r.id, r.state, r.agent, r.subject, r.created_at) for r in found.replies]
    history = [tuple(h) for h in found.history]
    return row, draft, templates, attachments, replies, history


def test_what_opening_an_email_reads_is_what_the_orm_reads(
    demo_db: Database, held_emails: dict[str, int], several: bool
) -> None:
    alice = actor_of(demo_db, "alice").user_id
    assert alice is not None
    orders = held_emails["orders"]
    with demo_db.session() as s:
        s.add_all(
            Attachment(
                email_id=orders, filename=name, content_type="text/plain", size=n, part_index=n
            )
            for n, name in ((2, "b.txt"), (1, "a.txt"))
        )
        s.add(History(email_id=orders, at=T0, user_id=alice, action="taken", detail="Taken"))
        s.add(History(email_id=orders, at=T0, user_id=None, action="routed", detail="Routed"))
        s.get_one(Email, orders).text_body = "Hello"
        no_such_email = (s.scalar(select(func.max(Email.id))) or 0) + 1
    for org_default in (True, False):
        if not org_default:
            with demo_db.session() as s:
                s.execute(update(Organisation).values(default_channel_id=None))
        for email_id in [*held_emails.values(), no_such_email]:
            for body_limit in (-1, 2**31 - 1):
                with demo_db.session() as s:
                    want = opening_reference(s, email_id, alice, body_limit)
                with demo_db.autocommit() as conn:
                    got = opening_read(conn, email_id, alice, body_limit)
                assert got == want, (email_id, body_limit, org_default)


def test_what_a_first_view_decoded_is_kept_once(demo_db: Database, several: bool) -> None:
    email_id = add_email(demo_db, "Orders")
    with demo_db.session() as s:
        s.get_one(Email, email_id).text_body = None  # not decoded yet
    listed = [
        {
            "email_id": email_id,
            "filename": f"{n}.pdf",
            "content_type": "application/pdf",
            "content_id": None,
            "size": 10 * n,
            "part_index": n,
        }
        for n in (3, 2)
    ]
    with demo_db.autocommit() as conn:
        rows = hotpath.save_decoded(conn, email_id, ("the text", None), listed)
    assert [(a.part_index, a.filename, a.size) for a in rows] == [
        (2, "2.pdf", 20),
        (3, "3.pdf", 30),
    ]
    with demo_db.autocommit() as conn:  # another view decoded it too: the first one's texts stay
        hotpath.save_decoded(conn, email_id, ("another text", "<p>x</p>"), [])
    with demo_db.session() as s:
        email = s.get_one(Email, email_id)
        assert (email.text_body, email.html_body) == ("the text", None)
        assert sorted((a.id, a.part_index) for a in email.attachments) == sorted(
            (a.id, a.part_index) for a in rows
        )


@pytest.mark.skipif(not ON_POSTGRES, reason="round trips matter across a network: PostgreSQL")
def test_take_next_and_what_it_shows_take_at_most_three_round_trips(demo_db: Database) -> None:
    """Counted at a proxy between the application and PostgreSQL: a request the client sends
    after it was answered is one round trip; a pipeline of statements is one."""
    from sqlalchemy.engine import make_url

    from app.services.work import WorkService
    from bench.latency_proxy import LatencyProxy

    added = [add_email(demo_db, "Orders") for _ in range(3)]
    with demo_db.session() as s:  # as a retrieval that decodes no body stores them
        s.execute(update(Email).where(Email.id.in_(added)).values(text_body=None))
    url = make_url(demo_db.url)
    assert url.host and url.port
    with LatencyProxy(url.host, url.port, 0.02) as proxy:
        db = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        try:
            work = WorkService(db, actor_of(db, "alice"))
            work.take_and_open(None, 8192)  # the pool's connections made, the statements prepared
            before = proxy.stats.round_trips
            opened = work.take_and_open(None, 8192)
            took = proxy.stats.round_trips - before
            assert opened is not None and opened.detail.body_loaded
            assert opened.detail.text_body.strip() == "Hello, my order 4711 has not arrived yet."
            assert took <= 3, took  # the take; the reading; what the first view decoded, kept
            before = proxy.stats.round_trips
            again = work.open_all(opened.email_id, 8192)  # decoded already: one read
            assert proxy.stats.round_trips - before == 1
            assert again.detail.text_body == opened.detail.text_body
            with db.autocommit() as conn:
                before = proxy.stats.round_trips
                hotpath.read_opening(conn, opened.email_id, None, 8192)
                assert proxy.stats.round_trips - before == 1
        finally:
            db.dispose()


# ---- Send's write (sending.queue_held_reply) ----------------------------------------------


def reply_values(email_id: int, agent: int | None, n: int) -> dict[str, Any]:
    return {
        "email_id": email_id,
        "agent_id": agent,
        "template_id": None,
        "to_addrs": "Zoe Adams <zoe@customers.example>",
        "cc_addrs": "",
        "bcc_addrs": f"audit{n}@example.net",
        "subject": f"Re: reply {n}",
        "body": "It is on its way.",
        "message_id": f"<reply.{n}@example.com>",
        "state": ReplyState.QUEUED,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
        "created_at": T0 + timedelta(minutes=n),
    }


def queue_reference(
    s: Session,
    values: dict[str, Any],
    holder: int | None,
    now: datetime,
    detail: str,
    draft_id: int | None,
) -> int | None:
    email = s.get_one(Email, values["email_id"])
    if email.agent_id != holder or email.status not in HELD:
        return None
    email.status, email.actioned_at = EmailStatus.ACTIONED, now
    if draft_id is None:
        reply = Reply(**values)
        s.add(reply)
    else:
        reply = s.get_one(Reply, draft_id)
        for name, value in values.items():
            setattr(reply, name, value)
    s.add(History(email_id=email.id, at=now, user_id=holder, action="replied", detail=detail))
    s.flush()
    return reply.id


def test_queue_held_reply_writes_what_the_orm_writes(
    demo_db: Database, held_emails: dict[str, int], several: bool
) -> None:
    alice = actor_of(demo_db, "alice").user_id
    bob = actor_of(demo_db, "bob").user_id
    with demo_db.session() as s:
        orders_draft = s.scalar(
            select(func.max(Reply.id)).where(Reply.email_id == held_emails["orders"])
        )
    cases = [
        ("orders", bob, True),  # not held by Bob: nothing written
        ("orders", alice, True),  # the draft becomes the reply
        ("orders", alice, False),  # Actioned now: no longer held
        ("own channel", alice, False),
        ("queued", alice, False),  # not taken
        ("no campaign", alice, False),
    ]
    for n, (name, holder, draft) in enumerate(cases):
        email_id = held_emails[name]
        values = reply_values(email_id, holder, n)
        now, detail = T0 + timedelta(hours=1, seconds=n), f"Reply {n} queued"
        draft_id = orders_draft if draft else None
        want = reference(
            demo_db,
            partial(
                queue_reference,
                values=values,
                holder=holder,
                now=now,
                detail=detail,
                draft_id=draft_id,
            ),
        )
        with demo_db.connection() as conn:
            got = hotpath.queue_held_reply(
                conn, values, holder=holder, now=now, detail=detail, draft_id=draft_id
            )
        after = stored(demo_db)
        assert ((got is None), after) == ((want[0] is None), want[1]), (n, name)
        if got is not None:
            with demo_db.session() as s:  # the id given is the reply written
                assert s.get_one(Reply, got).message_id == values["message_id"]
            assert draft_id is None or got == draft_id


# ---- History (history.py) ---------------------------------------------------------------


def test_history_rows_are_written_as_the_orm_writes_them(demo_db: Database) -> None:
    first, second = add_email(demo_db, "Orders"), add_email(demo_db, "Returns")
    alice = actor_of(demo_db, "alice").user_id
    at = datetime(2026, 11, 27, 10, 30, 5, 123456, tzinfo=UTC)
    entries = [
        Entry(first, "routed", "Routed by filter X", at),
        Entry(second, "taken", "Taken by Alice", at + timedelta(seconds=1), alice),
        Entry(first, "moved", "Größe – 5 € 日本語\nzwei Zeilen", at),
    ]

    def orm(s: Session) -> None:
        s.add_all(History(**entry._asdict()) for entry in entries)

    want = reference(demo_db, orm)
    with demo_db.connection() as conn:
        write_history(conn, entries)
    assert stored(demo_db) == want[1]
    with demo_db.session() as s:  # one row: the same, through a session
        write_history(s, entries[:1])
    assert len(stored(demo_db)["history"]) == len(want[1]["history"]) + 1


# ---- bulk inserts (bulk.py) ---------------------------------------------------------------

WHEN = datetime(2026, 11, 27, 10, 30, 5, 123456, tzinfo=UTC)


def bulk_table(metadata: MetaData, name: str, sql_default: bool = False) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column(
            "status",
            Enum(EmailStatus, native_enum=False, values_callable=lambda e: [m.value for m in e]),
        ),
        Column("at", UTCDateTime),
        Column("raw", LargeBinary),
        Column("flag", Boolean),
        Column("references", Text),  # a reserved word: quoted
        Column("kind", String(20), default="plain"),
        Column("created", UTCDateTime, default=lambda: WHEN),
        Column("note", Text, server_default="none"),
        *([Column("n", Integer, default=func.abs(-1))] if sql_default else []),
    )


ROWS: list[dict[str, object]] = [
    {
        "status": EmailStatus.QUEUED,
        "at": WHEN,
        "raw": b"\x00\xffraw",
        "flag": True,
        "references": "<a>",
    },
    {"status": EmailStatus.QUARANTINED, "at": None, "raw": b"", "flag": False, "references": None},
]


@pytest.mark.parametrize("sql_default", [False, True])
def test_bulk_inserts_store_what_sqlalchemys_inserts_store(db: Database, sql_default: bool) -> None:
    """Rows read back — and stored — alike, column defaults applied; a table with a SQL
    default is left to SQLAlchemy (as every table on PostgreSQL)."""
    metadata = MetaData()
    ours, theirs = bulk_table(metadata, "ours", sql_default), bulk_table(metadata, "theirs")
    metadata.create_all(db.engine)
    with db.connection() as conn:
        ids = hotpath.insert_returning_ids(conn, ours, ROWS)
        hotpath.insert_rows(conn, ours, ROWS)
        hotpath.insert_rows(conn, ours, [])
        assert hotpath.insert_returning_ids(conn, ours, []) == []
        conn.execute(insert(theirs), ROWS + ROWS)
    assert ids == [1, 2]
    columns = ["id", "status", "at", "raw", "flag", "references", "kind", "created", "note"]
    with db.connection() as conn:
        got = conn.execute(select(*(ours.c[c] for c in columns)).order_by(ours.c.id)).all()
        want = conn.execute(select(theirs).order_by(theirs.c.id)).all()
        assert got == want and len(got) == 4
        assert got[0].status == EmailStatus.QUEUED and got[0].at == WHEN and got[0].kind == "plain"
        assert got[0].created == WHEN and got[0].note == "none"
        if sql_default:
            assert set(conn.scalars(select(ours.c.n))) == {1}
        # stored alike, not only read back alike
        raw = "SELECT status, at, raw, flag, created FROM {} ORDER BY id"
        assert (
            conn.execute(text(raw.format("ours"))).all()
            == conn.execute(text(raw.format("theirs"))).all()
        )
