"""The agent's work (service layer): take, reply, put back, move, drafts, re-open — each
campaign flag on and off, and the service refusing what a campaign does not allow."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db.engine import Database
from app.db.models import Campaign, Email, EmailStatus, History, Reply, ReplyState, utcnow
from app.services import outbox
from app.services.auth import Actor
from app.services.errors import ConflictError, PermissionDenied, ValidationError
from app.services.work import (
    AddressesNeedConfirmation,
    NotAnAddress,
    ReplyText,
    WorkService,
    address_is_valid,
    confirmation_text,
    invalid_addresses,
    reply_subject,
)
from tests.conftest import actor_of
from tests.work_data import T0, add_email, campaign_id


def work(db: Database, login: str) -> WorkService:
    return WorkService(db, actor_of(db, login))


def set_flags(db: Database, title: str, **flags: object) -> None:
    with db.session() as s:
        s.execute(update(Campaign).where(Campaign.title == title).values(**flags))


def email(db: Database, email_id: int) -> Email:
    with db.session() as s:
        return s.get_one(Email, email_id)


def actions(db: Database, email_id: int) -> list[str]:
    with db.session() as s:
        return list(
            s.scalars(
                select(History.action).where(History.email_id == email_id).order_by(History.id)
            )
        )


def template_id(db: Database, w: WorkService, email_id: int, name: str) -> int:
    return next(t.template_id for t in w.templates(email_id) if t.name == name)


# ---- queues and taking ----------------------------------------------------------------


def test_queues_are_the_campaigns_of_the_agents_teams(demo_db: Database) -> None:
    add_email(demo_db, "Orders", queued_at=T0)
    add_email(demo_db, "Orders", queued_at=T0 + timedelta(minutes=5))
    add_email(demo_db, "Complaints")  # Escalations only: not Alice's
    queues = work(demo_db, "alice").queues()
    assert [q.title for q in queues] == ["General Enquiries", "Orders", "Returns"]
    orders = next(q for q in queues if q.title == "Orders")
    assert orders.waiting == 2
    assert orders.oldest_queued_at == T0
    assert next(q for q in queues if q.title == "Returns").waiting == 0
    assert [q.title for q in work(demo_db, "jurgen").queues()] == ["Complaints", "Returns"]


def test_take_next_gives_the_oldest_across_campaigns_then_within_one(demo_db: Database) -> None:
    late = add_email(demo_db, "Orders", queued_at=T0 + timedelta(hours=2))
    oldest = add_email(demo_db, "Returns", queued_at=T0)
    middle = add_email(demo_db, "General Enquiries", queued_at=T0 + timedelta(hours=1))
    add_email(demo_db, "Complaints", queued_at=T0 - timedelta(days=1))  # not Alice's
    w = work(demo_db, "alice")
    assert w.take_next(campaign_id(demo_db, "Orders")) == late
    assert w.take_next() == oldest
    assert w.take_next() == middle
    assert w.take_next() is None
    taken = email(demo_db, oldest)
    assert taken.status == EmailStatus.ASSIGNED
    assert taken.agent_id == actor_of(demo_db, "alice").user_id
    assert taken.taken_at is not None
    assert actions(demo_db, oldest)[-1] == "taken"
    assert [h.email_id for h in w.held()] == [late, oldest, middle]


def test_take_next_refuses_a_campaign_of_another_team(demo_db: Database) -> None:
    add_email(demo_db, "Complaints")
    with pytest.raises(PermissionDenied):
        work(demo_db, "alice").take_next(campaign_id(demo_db, "Complaints"))


def test_two_agents_never_hold_the_same_email(demo_db: Database) -> None:
    only = add_email(demo_db, "Returns")
    alice, jurgen = work(demo_db, "alice"), work(demo_db, "jurgen")
    assert alice.take_next() == only
    assert jurgen.take_next() is None
    with pytest.raises(ConflictError, match="Alice Agent has already taken"):
        jurgen.take(only)


def test_taking_a_chosen_email(demo_db: Database) -> None:
    first = add_email(demo_db, "Orders", queued_at=T0)
    chosen = add_email(demo_db, "Orders", queued_at=T0 + timedelta(minutes=1))
    w = work(demo_db, "alice")
    w.take(chosen)
    assert email(demo_db, chosen).status == EmailStatus.ASSIGNED
    assert email(demo_db, first).status == EmailStatus.QUEUED
    other = add_email(demo_db, "Complaints")
    with pytest.raises(PermissionDenied):
        w.take(other)


def test_queued_lists_one_campaigns_waiting_emails_oldest_first(demo_db: Database) -> None:
    later = add_email(demo_db, "Orders", subject="Later", queued_at=T0 + timedelta(minutes=9))
    first = add_email(demo_db, "Orders", subject="First", queued_at=T0)
    taken = add_email(demo_db, "Orders", queued_at=T0 + timedelta(minutes=1))
    add_email(demo_db, "Returns", queued_at=T0)
    w = work(demo_db, "alice")
    w.take(taken)
    queued = w.queued(campaign_id(demo_db, "Orders"))
    assert [(q.email_id, q.subject, q.queued_at) for q in queued] == [
        (first, "First", T0),
        (later, "Later", T0 + timedelta(minutes=9)),
    ]
    assert queued[0].from_addr == "Zoe Adams <zoe@customers.example>"
    assert len(w.queued(campaign_id(demo_db, "Orders"), limit=1)) == 1
    with pytest.raises(PermissionDenied):
        w.queued(campaign_id(demo_db, "Complaints"))


def test_an_agent_cannot_act_on_an_email_they_do_not_hold(demo_db: Database) -> None:
    held_by_alice = add_email(demo_db, "Returns")
    work(demo_db, "alice").take(held_by_alice)
    jurgen = work(demo_db, "jurgen")
    with pytest.raises(ConflictError, match="held by Alice Agent"):
        jurgen.open(held_by_alice)
    with pytest.raises(ConflictError):
        jurgen.put_back(held_by_alice)
    with pytest.raises(ConflictError):
        jurgen.send(held_by_alice, ReplyText(to="zoe@customers.example", subject="x", body="y"))


# ---- opening and templates -----------------------------------------------------------------


def test_a_new_reply_goes_to_reply_to_with_re_subject(demo_db: Database) -> None:
    e = add_email(
        demo_db,
        "General Enquiries",
        subject="Opening hours",
        sender="Zoe Adams <zoe@customers.example>",
        reply_to="Zoe at work <zoe@work.example>",
    )
    w = work(demo_db, "alice")
    w.take(e)
    item = w.open(e)
    assert item.reply.to == "Zoe at work <zoe@work.example>"
    assert item.reply.subject == "Re: Opening hours"
    assert item.rules.allow_free_format and not item.rules.allow_draft
    assert not item.has_draft


def test_reply_subject_adds_re_once() -> None:
    assert reply_subject("Hello") == "Re: Hello"
    assert reply_subject("RE: Hello") == "RE: Hello"
    assert reply_subject("") == "Re:"


def test_templates_are_the_campaigns_with_placeholders_filled(demo_db: Database) -> None:
    e = add_email(demo_db, "Orders", subject="Order 4711", sender="Renée Größe <renee@x.example>")
    w = work(demo_db, "alice")
    w.take(e)
    choices = {t.name: t for t in w.templates(e)}
    assert set(choices) == {"Order status", "Acknowledgement", "Rückfrage (Deutsch)"}
    status = choices["Order status"]
    assert status.subject == "Re: Order 4711"
    assert status.body.startswith("Dear Renée Größe,\n\nThank you for contacting Example Retail")
    assert status.body.endswith("Alice Agent\nOrders")
    # The organisation's timezone (Australia/Sydney, UTC+11 in November).
    received = email(demo_db, e).received_at
    local = (received + timedelta(hours=11)).strftime("%Y-%m-%d %H:%M")
    assert local in choices["Acknowledgement"].body


def test_hostile_customer_input_is_never_evaluated(demo_db: Database) -> None:
    # A customer name that looks like a placeholder, or like code, is text.
    e = add_email(
        demo_db,
        "Orders",
        subject="{{ agent.email }} {{ __import__('os').system('id') }}",
        sender='"{{ organisation.name }} {{ customer.__class__ }}" <evil@x.example>',
    )
    w = work(demo_db, "alice")
    w.take(e)
    status = next(t for t in w.templates(e) if t.name == "Order status")
    assert status.subject == "Re: {{ agent.email }} {{ __import__('os').system('id') }}"
    assert status.body.startswith("Dear {{ organisation.name }} {{ customer.__class__ }},")


# ---- free format and address confirmation ------------------------------------------------


def test_free_format_off_needs_one_of_the_campaigns_templates(demo_db: Database) -> None:
    e = add_email(demo_db, "Orders")
    w = work(demo_db, "alice")
    w.take(e)
    text = ReplyText(to="zoe@customers.example", subject="Re: x", body="Free text")
    with pytest.raises(ValidationError, match="does not allow free-format") as caught:
        w.send(e, text)
    assert caught.value.field == "Template"
    refund = None
    with demo_db.session() as s:
        from app.db.models import Template

        refund = s.scalar(select(Template.id).where(Template.name == "Refund confirmed"))
    with pytest.raises(ValidationError, match="not one of this campaign's templates"):
        w.send(e, ReplyText(to="zoe@customers.example", subject="x", body="y", template_id=refund))
    chosen = template_id(demo_db, w, e, "Order status")
    # The template's text stays editable: the agent's edited body is what is sent.
    reply_id = w.send(
        e,
        ReplyText(
            to="zoe@customers.example", subject="Re: x", body="Edited text", template_id=chosen
        ),
    )
    with demo_db.session() as s:
        reply = s.get_one(Reply, reply_id)
        assert reply.body == "Edited text" and reply.template_id == chosen
    assert email(demo_db, e).status == EmailStatus.ACTIONED


def test_free_format_on_sends_without_a_template(demo_db: Database) -> None:
    e = add_email(demo_db, "General Enquiries")
    w = work(demo_db, "alice")
    w.take(e)
    w.send(e, ReplyText(to="zoe@customers.example", subject="Re: x", body="Free text"))
    assert email(demo_db, e).status == EmailStatus.ACTIONED


@pytest.mark.parametrize(
    ("typed", "invalid"),
    [
        ("zoe@customers.example", []),
        ("Zoe Adams <zoe@customers.example>", []),
        ('"Adams, Zoe" <zoe@customers.example>', []),
        ("zoe@customers.example, max@customers.example", []),
        ("zoe@customers.example; max@customers.example", []),
        ("zoe.customers.example", ["zoe.customers.example"]),
        (
            "zoe@customers.example max@customers.example",
            ["zoe@customers.example max@customers.example"],
        ),
        ("zoe@customers.example,, bad@", ["bad@"]),
        ("zoe@localhost", ["zoe@localhost"]),
    ],
)
def test_invalid_addresses(typed: str, invalid: list[str]) -> None:
    assert invalid_addresses(typed) == invalid


def test_address_is_valid_syntax_only() -> None:
    assert address_is_valid("someone@no-such-domain-anywhere.example")
    assert not address_is_valid("Name <broken@>")


def test_confirmation_text_is_the_seeds() -> None:
    assert confirmation_text("zoe.customers.example") == (
        "The input email address 'zoe.customers.example' appears to be invalid. Please confirm "
        "that you do want to use this email address, by pressing OK, or press Cancel and go "
        "back and correct it."
    )


def test_address_confirmation_on_lists_each_invalid_address(demo_db: Database) -> None:
    e = add_email(demo_db, "Complaints")  # free format, confirmation on
    w = work(demo_db, "jurgen")
    w.take(e)
    text = ReplyText(
        to="zoe@customers.example another@customers.example",
        cc="max@localhost",
        subject="Re: x",
        body="Sorry",
    )
    with pytest.raises(AddressesNeedConfirmation) as caught:
        w.send(e, text)
    assert caught.value.addresses == [
        "zoe@customers.example another@customers.example",
        "max@localhost",
    ]
    assert email(demo_db, e).status == EmailStatus.ASSIGNED  # nothing sent, nothing lost
    # Confirming only one still asks for the other.
    with pytest.raises(AddressesNeedConfirmation) as again:
        w.send(e, text, confirmed=["max@localhost"])
    assert again.value.addresses == ["zoe@customers.example another@customers.example"]
    # Confirmed (the seed: "if you use a space you will get this error too, although the
    # email will still send"): the reply goes to both addresses of the pair, as typed.
    reply_id = w.send(e, text, confirmed=caught.value.addresses)
    assert email(demo_db, e).status == EmailStatus.ACTIONED
    with demo_db.session() as s:
        reply = s.get_one(Reply, reply_id)
        assert (reply.to_addrs, reply.cc_addrs) == (
            "zoe@customers.example, another@customers.example",
            "max@localhost",
        )
        detail = s.scalar(
            select(History.detail).where(History.email_id == e, History.action == "replied")
        )
    assert detail is not None and detail.startswith(
        "Reply to zoe@customers.example, another@customers.example, max@localhost queued"
    )
    prepared = outbox.prepare(demo_db, {reply_id: utcnow()})[0]
    assert prepared.recipients == (
        "zoe@customers.example",
        "another@customers.example",
        "max@localhost",
    )


@pytest.mark.parametrize(
    ("to", "confirm", "sent_to"),
    [
        # the seed's space, and other white space, between addresses
        ("abc@mailserver.com xyz@mailserver.com", True, "abc@mailserver.com, xyz@mailserver.com"),
        ("Abc@MailServer.com\txyz@mailserver.com", True, "Abc@MailServer.com, xyz@mailserver.com"),
        # a name stays with its address; another address after it
        (
            "Zoe Adams <zoe@customers.example> max@customers.example",
            True,
            "Zoe Adams <zoe@customers.example>, max@customers.example",
        ),
        # a comma inside a quoted local part: one address, as typed
        ('"zoe,adams"@customers.example', True, '"zoe,adams"@customers.example'),
        # an address without a dot in its domain, OKed: as typed
        ("zoe@intranet", True, "zoe@intranet"),
        # without confirmation nobody is asked, and the same rule applies
        ("abc@mailserver.com xyz@mailserver.com", False, "abc@mailserver.com, xyz@mailserver.com"),
    ],
)
def test_a_recipient_sent_anyway_goes_to_each_address_in_it_as_typed(
    demo_db: Database, to: str, confirm: bool, sent_to: str
) -> None:
    set_flags(demo_db, "Complaints", require_address_confirmation=confirm)
    e = add_email(demo_db, "Complaints")
    w = work(demo_db, "jurgen")
    w.take(e)
    text = ReplyText(to=to, subject="Re: x", body="Sorry")
    if confirm:
        with pytest.raises(AddressesNeedConfirmation) as caught:
            w.send(e, text)
        assert caught.value.addresses == [to]
    reply_id = w.send(e, text, confirmed=[to] if confirm else ())
    with demo_db.session() as s:
        assert s.get_one(Reply, reply_id).to_addrs == sent_to


@pytest.mark.parametrize(
    ("field", "typed", "confirmed", "named"),
    [
        ("To", "zoe.customers.example", ["zoe.customers.example"], "zoe.customers.example"),
        # the space case with one part that is no address
        ("To", "zoe@customers.example zoe", ["zoe@customers.example zoe"], "zoe"),
        ("To", "Zoe Adams zoe@customers.example", ["Zoe Adams zoe@customers.example"], "Zoe Adams"),
        # a comma inside an address splits it: the part before it has no '@'
        ("Cc", "zoe,adams@customers.example", ["zoe"], "zoe"),
        ("Bcc", "boss", ["boss"], "boss"),
    ],
)
def test_a_part_without_an_at_sign_is_named_and_nothing_is_queued(
    demo_db: Database, field: str, typed: str, confirmed: list[str], named: str
) -> None:
    e = add_email(demo_db, "Complaints")  # confirmation on
    w = work(demo_db, "jurgen")
    w.take(e)
    values = {"to": "max@customers.example", "cc": "", "bcc": ""}
    values[field.lower()] = typed
    text = ReplyText(subject="Re: x", body="Sorry", **values)
    with pytest.raises(AddressesNeedConfirmation) as caught:
        w.send(e, text)
    assert caught.value.addresses == confirmed
    with pytest.raises(NotAnAddress) as refused:
        w.send(e, text, confirmed=confirmed)
    assert (refused.value.field, refused.value.address) == (field, named)
    assert refused.value.message.startswith(
        f"holds '{named}', which is not an email address (it has no '@')"
    )
    assert email(demo_db, e).status == EmailStatus.ASSIGNED
    with demo_db.session() as s:
        assert s.scalars(select(Reply.id).where(Reply.email_id == e)).all() == []
    assert actions(demo_db, e)[-1] == "taken"  # nothing happened after taking it


def test_without_confirmation_a_part_without_an_at_sign_is_refused_too(demo_db: Database) -> None:
    e = add_email(demo_db, "General Enquiries")  # confirmation off
    w = work(demo_db, "alice")
    w.take(e)
    with pytest.raises(NotAnAddress, match="'zoe'"):
        w.send(e, ReplyText(to="zoe@customers.example zoe", subject="Re: x", body="y"))
    assert email(demo_db, e).status == EmailStatus.ASSIGNED


def test_address_confirmation_off_never_asks(demo_db: Database) -> None:
    e = add_email(demo_db, "General Enquiries")
    w = work(demo_db, "alice")
    w.take(e)
    w.send(e, ReplyText(to="zoe@localhost", subject="Re: x", body="y"))
    assert email(demo_db, e).status == EmailStatus.ACTIONED


def test_send_queues_the_reply_in_the_outbox(demo_db: Database) -> None:
    e = add_email(demo_db, "General Enquiries", subject="Hours")
    w = work(demo_db, "alice")
    w.take(e)
    reply_id = w.send(
        e, ReplyText(to="Zoe <zoe@customers.example>", cc="", subject="Re: Hours", body="9-5")
    )
    with demo_db.session() as s:
        reply = s.get_one(Reply, reply_id)
        assert reply.state == ReplyState.QUEUED
        assert reply.to_addrs == "Zoe <zoe@customers.example>"
        assert reply.message_id.endswith("@example.com>")
    assert actions(demo_db, e)[-1] == "replied"
    assert email(demo_db, e).actioned_at is not None
    with pytest.raises(ConflictError, match="no longer hold"):
        w.send(e, ReplyText(to="zoe@customers.example", subject="Re: Hours", body="again"))


def test_send_without_recipient_is_refused(demo_db: Database) -> None:
    e = add_email(demo_db, "General Enquiries")
    w = work(demo_db, "alice")
    w.take(e)
    with pytest.raises(ValidationError, match="at least one recipient"):
        w.send(e, ReplyText(subject="Re: x", body="y"))


# ---- put back, move, drafts ---------------------------------------------------------------


@pytest.mark.parametrize("allowed", [True, False])
def test_put_back_follows_the_campaign(demo_db: Database, allowed: bool) -> None:
    set_flags(demo_db, "Orders", allow_put_back=allowed)
    e = add_email(demo_db, "Orders", queued_at=T0)
    before = email(demo_db, e).queued_at
    w = work(demo_db, "alice")
    w.take(e)
    assert w.open(e).rules.allow_put_back is allowed
    if allowed:
        w.put_back(e)
        back = email(demo_db, e)
        assert (back.status, back.agent_id, back.queued_at) == (EmailStatus.QUEUED, None, before)
        assert actions(demo_db, e)[-1] == "put back"
        assert w.take_next() == e  # it kept its place
    else:
        with pytest.raises(PermissionDenied, match="does not allow putting emails back"):
            w.put_back(e)
        assert email(demo_db, e).status == EmailStatus.ASSIGNED


@pytest.mark.parametrize("allowed", [True, False])
def test_move_follows_the_campaign(demo_db: Database, allowed: bool) -> None:
    set_flags(demo_db, "Orders", allow_move=allowed)
    e = add_email(demo_db, "Orders", queued_at=T0)
    w = work(demo_db, "alice")
    w.take(e)
    targets = dict((title, cid) for cid, title in w.move_targets(e))
    assert "Orders" not in targets and "Complaints" in targets
    if allowed:
        w.move(e, targets["Complaints"])
        moved = email(demo_db, e)
        assert moved.campaign_id == campaign_id(demo_db, "Complaints")
        assert (moved.status, moved.agent_id, moved.queued_at) == (EmailStatus.QUEUED, None, T0)
        with demo_db.session() as s:
            detail = s.scalar(
                select(History.detail).where(History.email_id == e).order_by(History.id.desc())
            )
        assert detail == "Moved from Orders to Complaints"
        assert work(demo_db, "jurgen").take_next(campaign_id(demo_db, "Complaints")) == e
    else:
        with pytest.raises(PermissionDenied, match="does not allow moving"):
            w.move(e, targets["Complaints"])


def test_move_to_the_same_campaign_is_refused(demo_db: Database) -> None:
    e = add_email(demo_db, "Orders")
    w = work(demo_db, "alice")
    w.take(e)
    with pytest.raises(ValidationError, match="another campaign"):
        w.move(e, campaign_id(demo_db, "Orders"))


@pytest.mark.parametrize("allowed", [True, False])
def test_drafts_follow_the_campaign(demo_db: Database, allowed: bool) -> None:
    set_flags(demo_db, "General Enquiries", allow_draft=allowed)
    e = add_email(demo_db, "General Enquiries")
    w = work(demo_db, "alice")
    w.take(e)
    text = ReplyText(to="not yet an address", cc="", subject="Re: x", body="Half written")
    if not allowed:
        with pytest.raises(PermissionDenied, match="does not allow saving drafts"):
            w.save_draft(e, text)
        return
    w.save_draft(e, text)
    assert email(demo_db, e).status == EmailStatus.DRAFT
    assert [d.email_id for d in w.drafts()] == [e]
    item = w.open(e)
    assert item.has_draft and item.reply == text
    w.save_draft(e, ReplyText(to="zoe@customers.example", subject="Re: x", body="Finished"))
    with demo_db.session() as s:
        assert s.scalar(select(Reply.body).where(Reply.email_id == e)) == "Finished"
    reply_id = w.send(e, w.open(e).reply)
    with demo_db.session() as s:
        replies = list(s.scalars(select(Reply).where(Reply.email_id == e)))
    assert [(r.id, r.state, r.body) for r in replies] == [(reply_id, ReplyState.QUEUED, "Finished")]
    assert w.drafts() == []


def test_putting_back_a_draft_discards_it(demo_db: Database) -> None:
    e = add_email(demo_db, "Orders")
    w = work(demo_db, "alice")
    w.take(e)
    w.save_draft(e, ReplyText(to="zoe@customers.example", subject="Re: x", body="draft"))
    w.put_back(e)
    with demo_db.session() as s:
        assert s.scalar(select(Reply.id).where(Reply.email_id == e)) is None


def test_leaving_returns_held_emails_and_keeps_drafts(demo_db: Database) -> None:
    a = add_email(demo_db, "Orders", queued_at=T0)
    b = add_email(demo_db, "Orders", queued_at=T0 + timedelta(minutes=1))
    w = work(demo_db, "alice")
    w.take(a)
    w.take(b)
    w.save_draft(b, ReplyText(to="zoe@customers.example", subject="Re: x", body="kept"))
    assert w.release_held() == (1, 1)
    assert email(demo_db, a).status == EmailStatus.QUEUED
    assert email(demo_db, b).status == EmailStatus.DRAFT
    assert [h.email_id for h in w.held()] == [b]


# ---- failed sends and supervisors ----------------------------------------------------------


def test_a_failed_send_comes_back_to_the_agent_to_correct(demo_db: Database) -> None:

    e = add_email(demo_db, "General Enquiries")
    w = work(demo_db, "alice")
    w.take(e)
    reply_id = w.send(e, ReplyText(to="nobody@customers.example", subject="Re: x", body="y"))
    assert outbox.claim_ids(demo_db, [reply_id], utcnow())
    assert outbox.mark_failed(
        demo_db, reply_id, "550 5.1.1 <nobody@customers.example>: no such user"
    )
    failed = w.my_failed_sends()
    assert [(f.reply_id, f.last_error) for f in failed] == [
        (reply_id, "550 5.1.1 <nobody@customers.example>: no such user")
    ]
    assert w.rework_failed(reply_id) == e
    item = w.open(e)
    assert item.status == EmailStatus.DRAFT
    assert item.reply.to == "nobody@customers.example"
    assert item.last_error and "no such user" in item.last_error
    assert w.my_failed_sends() == []
    again = w.send(e, ReplyText(to="zoe@customers.example", subject="Re: x", body="y"))
    assert again == reply_id
    with demo_db.session() as s:
        reply = s.get_one(Reply, reply_id)
        assert (reply.state, reply.to_addrs, reply.last_error) == (
            ReplyState.QUEUED,
            "zoe@customers.example",
            None,
        )


def test_the_refused_recipients_of_a_reply_come_back_to_the_agent_alone(
    demo_db: Database,
) -> None:
    e = add_email(demo_db, "General Enquiries")
    w = work(demo_db, "alice")
    w.take(e)
    reply_id = w.send(
        e,
        ReplyText(
            to="zoe@customers.example, zoe@customers.exmaple",
            cc="max@customers.example",
            subject="Re: x",
            body="y",
        ),
    )
    claimer = outbox.sender_name()
    assert outbox.claim_ids(demo_db, [reply_id], utcnow(), claimer)
    words = "550 5.1.2 <zoe@customers.exmaple>: Recipient address rejected: Domain not found"
    refusal = outbox.Refusal("zoe@customers.exmaple", 550, words.split(" ", 1)[1])
    assert outbox.split_refused(demo_db, reply_id, [refusal], utcnow(), claimer)
    assert outbox.mark_sent(demo_db, reply_id, utcnow())
    [failed] = w.my_failed_sends()
    assert failed.reply_id != reply_id
    assert (failed.state, failed.recipients) == (ReplyState.FAILED, "zoe@customers.exmaple")
    assert failed.last_error is not None
    assert f"zoe@customers.exmaple: {words}" in failed.last_error
    assert actions(demo_db, e)[-2:] == ["partially refused", "sent"]
    # Correct and send again: a draft to the refused recipient only; the sent reply stays.
    assert w.rework_failed(failed.reply_id) == e
    item = w.open(e)
    assert (item.reply.to, item.reply.cc) == ("zoe@customers.exmaple", "")
    assert item.last_error == failed.last_error
    again = w.send(e, replace(item.reply, to="zoe@customers.example.org"))
    assert again == failed.reply_id
    with demo_db.session() as s:
        mine = s.scalars(select(Reply).where(Reply.email_id == e))
        rows = {r.id: (r.state, r.to_addrs, r.cc_addrs) for r in mine}
    assert rows == {
        reply_id: (ReplyState.SENT, "zoe@customers.example", "max@customers.example"),
        again: (ReplyState.QUEUED, "zoe@customers.example.org", ""),
    }


def test_supervisor_reopens_to_the_queue_or_to_an_agent(
    demo_db: Database, supervisor: Actor, agent: Actor
) -> None:
    e = add_email(demo_db, "General Enquiries")
    alice = work(demo_db, "alice")
    alice.take(e)
    alice.send(e, ReplyText(to="zoe@customers.example", subject="Re: x", body="y"))
    boss = WorkService(demo_db, supervisor)
    boss.reopen(e)
    assert email(demo_db, e).status == EmailStatus.QUEUED
    with pytest.raises(ConflictError, match="Only an actioned email"):
        boss.reopen(e)
    alice.take(e)
    alice.send(e, ReplyText(to="zoe@customers.example", subject="Re: x", body="again"))
    jurgen = actor_of(demo_db, "jurgen")
    boss.reopen(e, jurgen.user_id)
    reopened = email(demo_db, e)
    assert (reopened.status, reopened.agent_id) == (EmailStatus.ASSIGNED, jurgen.user_id)
    holdings = boss.holdings()
    assert [(h.email_id, h.agent) for h in holdings] == [(e, "Jürgen Größe")]
    with pytest.raises(PermissionDenied):
        WorkService(demo_db, agent).reopen(e)
    with pytest.raises(PermissionDenied):
        WorkService(demo_db, agent).holdings()


def test_change_token_grows_with_every_action(demo_db: Database) -> None:
    w = work(demo_db, "alice")
    before = w.change_token()
    e = add_email(demo_db, "Orders")
    after_arrival = w.change_token()
    w.take(e)
    assert before < after_arrival < w.change_token()


def test_an_agent_reads_the_emails_they_hold_and_no_other(demo_db: Database) -> None:
    from app.services.emails import EmailService

    mine = add_email(demo_db, "Orders", body="Parcel 4711 is late")
    other = add_email(demo_db, "Orders")
    w = work(demo_db, "alice")
    w.take(mine)
    reader = EmailService(demo_db, actor_of(demo_db, "alice"))
    assert reader.detail(mine).text_body == "Parcel 4711 is late"
    assert b"Parcel 4711" in reader.raw(mine)
    with pytest.raises(PermissionDenied, match="while you hold it"):
        reader.detail(other)
    with pytest.raises(PermissionDenied):
        reader.raw(other)
    w.put_back(mine)
    with pytest.raises(PermissionDenied):
        reader.detail(mine)


def test_supervisor_returns_a_held_email_to_the_queue(demo_db: Database, supervisor: Actor) -> None:
    e = add_email(demo_db, "Orders", queued_at=T0)
    alice = work(demo_db, "alice")
    alice.take(e)
    alice.save_draft(e, ReplyText(to="zoe@customers.example", subject="Re: x", body="draft"))
    boss = WorkService(demo_db, supervisor)
    boss.return_to_queue(e)
    back = email(demo_db, e)
    assert (back.status, back.agent_id, back.queued_at) == (EmailStatus.QUEUED, None, T0)
    with demo_db.session() as s:
        assert s.scalar(select(Reply.id).where(Reply.email_id == e)) is None
    with pytest.raises(ConflictError, match="not held by anyone"):
        boss.return_to_queue(e)
    with pytest.raises(PermissionDenied):
        alice.return_to_queue(e)
