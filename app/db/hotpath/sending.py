"""Send's statements: what sending a reply checks, read in one statement, and the write that
queues the reply only while the agent still holds the email.

On PostgreSQL each is one statement on the driver's cursor (atomic alone: no transaction
around them); the write marks the email Actioned *only if the agent still holds it* and,
only then, writes the reply (a new row, or the agent's draft made the reply) and its History
row. SQLite runs the write as three statements in ``conn``'s transaction, the first one
checked for its row count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Integer,
    Table,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from app.db.models import (
    HELD,
    Campaign,
    CampaignTemplate,
    Channel,
    Email,
    EmailStatus,
    Organisation,
    Reply,
    ReplyState,
    UTCDateTime,
)

from .driver import DriverStatement, single_statements
from .history import history_for_each, insert_history


def reply_channel_id() -> Any:
    """The channel a reply goes out through, as the seed defines it: the campaign's Email
    Channel, else the Organisation Default Email Channel; the mailbox the customer wrote to
    only when neither is set. (An expression over ``Email`` and ``Campaign``, outer-joined.)"""
    default = select(Organisation.default_channel_id).limit(1).scalar_subquery()
    return func.coalesce(Campaign.channel_id, default, Email.channel_id)


@lru_cache(maxsize=2)
def _for_sending(with_template: bool) -> DriverStatement:
    """``sending_facts``' statement, bound with ``email_id`` (and ``template_id``): columns
    only (no objects to load and track), the message and its text left out."""
    linked: Any = None
    if with_template:
        linked = (
            select(CampaignTemplate.template_id)
            .where(
                CampaignTemplate.campaign_id == Email.campaign_id,
                CampaignTemplate.template_id == bindparam("template_id", type_=Integer()),
            )
            .scalar_subquery()
        )
    draft = (
        select(Reply.id)
        .where(Reply.email_id == Email.id, Reply.state == ReplyState.DRAFT)
        .order_by(Reply.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    statement = (
        select(
            Email.status,
            Email.agent_id,
            Email.message_id,
            Email.in_reply_to,
            Email.references,
            Campaign.id.label("campaign"),
            Campaign.allow_free_format,
            Campaign.require_address_confirmation,
            linked.label("linked") if linked is not None else literal(None).label("linked"),
            Channel.id.label("channel"),
            Channel.name,
            Channel.display_name,
            Channel.email_address,
            Channel.max_recipients,
            draft.label("draft"),
        )
        .select_from(Email)
        .outerjoin(Campaign, Email.campaign_id == Campaign.id)
        .outerjoin(Channel, Channel.id == reply_channel_id())
        .where(Email.id == bindparam("email_id", type_=Integer()))
    )
    return DriverStatement(statement)


def sending_facts(conn: Connection, email_id: int, template_id: int | None) -> Any | None:
    """What sending a reply to ``email_id`` checks, in one round trip (None: no such
    email), by name: the email's ``status`` (an ``EmailStatus`` or its value) and
    ``agent_id``, its threading headers (``message_id``, ``in_reply_to``, ``references``),
    its ``campaign`` (id; None: none) with ``allow_free_format`` and
    ``require_address_confirmation``, ``linked``: ``template_id`` if that template is one
    of the campaign's (else None), the ``channel`` the reply goes out through (id; None:
    none) with its ``name``, ``display_name``, ``email_address`` and ``max_recipients``, and
    the newest ``draft`` (id) of a reply to the email."""
    values = {"email_id": email_id, "template_id": template_id}
    statement = _for_sending(template_id is not None)
    if single_statements(conn):
        return statement.one_or_none(conn, values)
    return conn.execute(statement.statement, values).one_or_none()


_REPLY_INSERT = insert(Reply).returning(Reply.id)
_DRAFT_SENT = (
    update(Reply).where(Reply.id == bindparam("draft_id", type_=Integer())).returning(Reply.id)
)
# The email answered: Actioned, only while ``holder`` still holds it (a supervisor may have
# just returned it). (Held as two comparisons: IN would be rendered again on every
# execution.)
_ACTIONED_BY_HOLDER = update(Email).where(
    Email.id == bindparam("answered"),
    Email.agent_id == bindparam("holder"),
    or_(*(Email.status == held for held in HELD)),
)
_ACTIONED = _ACTIONED_BY_HOLDER.values(
    status=EmailStatus.ACTIONED, actioned_at=bindparam("now", type_=UTCDateTime())
)


@lru_cache(maxsize=4)
def _queue_held_reply(columns: tuple[str, ...], draft: bool) -> DriverStatement:
    """PostgreSQL, one statement: the email Actioned if the agent (``holder``) still holds
    it, then — only then — the reply (``columns``, ``email_id`` first, bound as
    ``r_<name>``: a new row, or the agent's draft ``draft_id`` made the reply) and its
    History (``detail``). Returns the reply's id, or no row when the agent no longer holds
    the email."""
    actioned = _ACTIONED.returning(Email.id).cte("actioned")
    table = cast(Table, Reply.__table__)
    reply: Any
    if draft:
        reply = (
            update(Reply)
            .where(
                Reply.id == bindparam("draft_id", type_=Integer()),
                Reply.email_id.in_(select(actioned.c.id)),
            )
            .values({name: bindparam(f"r_{name}", type_=table.c[name].type) for name in columns})
        )
    else:
        reply = insert(Reply).from_select(
            list(columns),
            select(
                actioned.c.id,
                *(bindparam(f"r_{name}", type_=table.c[name].type) for name in columns[1:]),
            ),
        )
    reply = reply.returning(Reply.id, Reply.email_id).cte("reply")
    logged = history_for_each(reply.c.email_id, "replied", "now", "holder").cte("logged")
    return DriverStatement(select(reply.c.id).add_cte(logged))


def queue_held_reply(
    conn: Connection,
    reply: Mapping[str, Any],
    *,
    holder: int | None,
    now: datetime,
    detail: str,
    draft_id: int | None,
) -> int | None:
    """Queue a reply while ``holder`` still holds the email it answers: the email Actioned
    (at ``now``), the reply written (``reply``: the Reply row's columns; a new row, or the
    draft ``draft_id`` becomes it) and its History row ('replied', ``detail``), in
    ``conn``'s transaction (on PostgreSQL one statement: ``conn`` may be in autocommit).
    Returns the reply's id; None, with nothing written, when ``holder`` no longer holds
    the email."""
    email_id = reply["email_id"]
    if single_statements(conn):
        columns = ("email_id", *(name for name in reply if name != "email_id"))
        params = {f"r_{name}": reply[name] for name in columns}
        params.update(answered=email_id, now=now, holder=holder, detail=detail, draft_id=draft_id)
        found = _queue_held_reply(columns, draft_id is not None).scalar(conn, params)
        return None if found is None else int(found)
    actioned = conn.execute(_ACTIONED, {"answered": email_id, "now": now, "holder": holder})
    if not cast(CursorResult[Any], actioned).rowcount:
        return None
    if draft_id is None:
        reply_id = conn.scalar(_REPLY_INSERT, dict(reply))
    else:
        reply_id = conn.scalar(_DRAFT_SENT.values(dict(reply)), {"draft_id": draft_id})
    insert_history(
        conn,
        [
            {
                "email_id": email_id,
                "at": now,
                "user_id": holder,
                "action": "replied",
                "detail": detail,
            }
        ],
    )
    return int(cast(int, reply_id))
