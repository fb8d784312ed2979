"""Storing and routing retrieved messages: exactly once, every filter operator."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db.engine import Database
from app.db.models import Campaign, Channel, Email, EmailStatus, History
from app.services.auth import SYSTEM
from app.services.channels import ChannelData, ChannelService, FilterData
from app.services.intake import Fetched, Intake
from app.services.settings import SettingsData, SettingsService


def campaign_id(db: Database, title: str) -> int:
    with db.session() as s:
        return s.scalars(select(Campaign.id).where(Campaign.title == title)).one()


def channel_id(db: Database, name: str) -> int:
    with db.session() as s:
        return s.scalars(select(Channel.id).where(Channel.name == name)).one()


def mail(
    subject: str = "Hello",
    sender: str = "Customer <c@example.com>",
    body: str = "Hi",
    message_id: str | None = "<m1@example.com>",
    to: str = "support@example.com",
    extra: str = "",
) -> bytes:
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Fri, 27 Nov 2026 10:00:00 +0000",
    ]
    if message_id:
        headers.append(f"Message-ID: {message_id}")
    if extra:
        headers.append(extra)
    headers.append("Content-Type: text/plain; charset=utf-8")
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


def count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Email)) or 0


@pytest.fixture
def support(demo_db: Database) -> Intake:
    return Intake(demo_db, channel_id(demo_db, "Support mailbox"))


def test_routed_by_first_matching_filter_with_history(demo_db, support) -> None:
    [stored] = support.store([Fetched("INBOX", 7, 1, mail(subject="Where is my ORDER?"))])
    assert stored.new and stored.campaign_id == campaign_id(demo_db, "Orders")
    with demo_db.session() as s:
        email = s.get_one(Email, stored.email_id)
        assert email.status == EmailStatus.QUEUED
        assert email.from_addr == "Customer <c@example.com>"
        actions = [
            (h.action, h.detail)
            for h in s.scalars(
                select(History).where(History.email_id == email.id).order_by(History.id)
            )
        ]
    assert actions[0][0] == "arrived"
    assert actions[1] == ("routed", "Routed by filter Subject contains 'order'")


def test_no_match_goes_to_the_default_campaign(demo_db, support) -> None:
    [stored] = support.store([Fetched("INBOX", 7, 1, mail(subject="A question"))])
    assert stored.campaign_id == campaign_id(demo_db, "General Enquiries")


def test_body_filter_and_html_only_body(demo_db, support) -> None:
    html = (
        b"From: c@example.com\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n"
        b"<p>I have a <b>COMPLAINT</b></p>\r\n"
    )
    [a, b] = support.store(
        [
            Fetched("INBOX", 7, 1, mail(subject="x", body="this is a complaint", message_id=None)),
            Fetched("INBOX", 7, 2, html),
        ]
    )
    complaints = campaign_id(demo_db, "Complaints")
    assert a.campaign_id == complaints and b.campaign_id == complaints


def test_the_same_uid_is_stored_once(demo_db, support) -> None:
    first = support.store([Fetched("INBOX", 7, 1, mail())])
    again = support.store([Fetched("INBOX", 7, 1, mail())])
    assert first[0].new and not again[0].new and again[0].email_id == first[0].email_id
    assert count(demo_db) == 1
    assert support.known_uids("INBOX", 7, [1, 2]) == {1}


def test_uidvalidity_change_recognises_messages_by_message_id_and_hash(demo_db, support) -> None:
    support.store(
        [
            Fetched("INBOX", 7, 1, mail()),
            Fetched("INBOX", 7, 2, mail(message_id=None, subject="no id")),
        ]
    )
    after = support.store(
        [
            Fetched("INBOX", 99, 10, mail()),
            Fetched("INBOX", 99, 11, mail(message_id=None, subject="no id")),
            Fetched("INBOX", 99, 12, mail(message_id="<m2@example.com>")),
        ]
    )
    assert [r.new for r in after] == [False, False, True]
    assert count(demo_db) == 3
    assert support.known_uids("INBOX", 99, [10, 11, 12]) == {10, 11, 12}


def test_a_message_without_message_id_is_stored(demo_db, support) -> None:
    [stored] = support.store([Fetched("INBOX", 7, 1, mail(message_id=None))])
    assert stored.new
    with demo_db.session() as s:
        assert s.get_one(Email, stored.email_id).message_id is None


def test_same_message_in_two_channels_is_one_record_each_routed_by_its_own(
    demo_db, support
) -> None:
    sales = Intake(demo_db, channel_id(demo_db, "Sales mailbox"))
    raw = mail(subject="Order for the Aktion")
    [a] = support.store([Fetched("INBOX", 7, 1, raw)])
    [b] = sales.store([Fetched("INBOX", 7, 1, raw)])
    assert a.email_id != b.email_id and count(demo_db) == 2
    assert a.campaign_id == campaign_id(demo_db, "Orders")
    assert b.campaign_id == campaign_id(demo_db, "Größe – 5 € Aktion")


def test_flags_oversize_and_quarantine(demo_db, support) -> None:
    SettingsService(demo_db, SYSTEM).update(SettingsData("Example", "UTC", max_message_size_mb=1))
    support.reload()
    big = mail(subject="big order", body="x" * (1024 * 1024 + 10))
    [auto, huge] = support.store(
        [
            Fetched("INBOX", 7, 1, mail(extra="Auto-Submitted: auto-replied", message_id="<a@x>")),
            Fetched("INBOX", 7, 2, big),
        ]
    )
    with demo_db.session() as s:
        assert s.get_one(Email, auto.email_id).is_auto_reply
        oversized = s.get_one(Email, huge.email_id)
        assert oversized.is_oversize and oversized.raw == big
        assert oversized.campaign_id == campaign_id(demo_db, "Orders")  # routed by subject
    channels = ChannelService(demo_db, SYSTEM)
    bare = channels.create_channel(ChannelData(name="Bare", email_address="bare@example.com"))
    [q] = Intake(demo_db, bare.id).store([Fetched("INBOX", 1, 1, mail())])
    assert q.quarantined
    with demo_db.session() as s:
        email = s.get_one(Email, q.email_id)
        assert email.status == EmailStatus.QUARANTINED and "no default campaign" in (
            email.quarantine_reason or ""
        )


@pytest.mark.parametrize(
    ("field", "match", "keyword", "hit", "miss"),
    [
        ("sender", "contains", "EXAMPLE.org", {"sender": "A <a@example.org>"}, {}),
        (
            "sender",
            "equals",
            "a@example.org",
            {"sender": "a@example.org"},
            {"sender": "aa@example.org"},
        ),
        ("sender", "starts_with", "vip", {"sender": "VIP.customer@x.com"}, {}),
        ("sender", "ends_with", "@gov.example", {"sender": "x@gov.example"}, {}),
        ("subject", "contains", "größe", {"subject": "GRÖSSE? no: Größe 5"}, {}),
        ("subject", "equals", "help", {"subject": "  Help "}, {"subject": "Help me"}),
        # a fold after an encoded word keeps its space: the filter sees "Größe 42"
        (
            "subject",
            "equals",
            "größe 42",
            {"subject": "=?utf-8?q?Gr=C3=B6=C3=9Fe?=\r\n 42"},
            {"subject": "=?utf-8?q?Gr=C3=B6=C3=9Fe?=42"},
        ),
        (
            "sender",
            "contains",
            "jürgen müller",
            {"sender": "=?utf-8?q?J=C3=BCrgen?=\r\n M=?utf-8?q?=C3=BC?=ller <j@x.example>"},
            {},
        ),
        (
            "sender",
            "equals",
            "mailer-daemon@mx.example",
            {"sender": "MAILER-DAEMON@MX.example"},
            {},
        ),
        ("subject", "starts_with", "re:", {"subject": "RE: invoice"}, {"subject": "Fw: re:"}),
        ("subject", "ends_with", "urgent", {"subject": "call me URGENT"}, {}),
        (
            "subject",
            "regex",
            r"^\[#\d{4}\]",
            {"subject": "[#1234] status"},
            {"subject": "x [#1234]"},
        ),
        ("body", "contains", "kündigung", {"body": "Meine Kündigung bitte"}, {}),
        ("body", "regex", r"IBAN\s+DE\d{2}", {"body": "IBAN DE12 3456"}, {"body": "iban de12"}),
        ("recipients", "contains", "vip@", {"to": "vip@example.com"}, {}),
        ("recipients", "equals", "sales@example.com", {"to": "Sales <sales@example.com>"}, {}),
    ],
)
def test_every_filter_operator(demo_db, field, match, keyword, hit, miss) -> None:
    channels = ChannelService(demo_db, SYSTEM)
    target = campaign_id(demo_db, "Returns")
    default = campaign_id(demo_db, "General Enquiries")
    channel = channels.create_channel(
        ChannelData(name="Ops", email_address="ops@example.com", default_campaign_id=default)
    )
    channels.add_filter(channel.id, FilterData(field, match, keyword, target))
    intake = Intake(demo_db, channel.id)
    [yes, no] = intake.store(
        [
            Fetched("INBOX", 1, 1, mail(message_id="<1@x>", **hit)),
            Fetched("INBOX", 1, 2, mail(message_id="<2@x>", **miss)),
        ]
    )
    assert yes.campaign_id == target
    assert no.campaign_id == default


def test_disabled_filters_are_skipped_and_priority_order_wins(demo_db) -> None:
    channels = ChannelService(demo_db, SYSTEM)
    default = campaign_id(demo_db, "General Enquiries")
    channel = channels.create_channel(
        ChannelData(name="Ops", email_address="ops@example.com", default_campaign_id=default)
    )
    first = channels.add_filter(
        channel.id, FilterData("subject", "contains", "refund", campaign_id(demo_db, "Returns"))
    )
    channels.add_filter(
        channel.id, FilterData("subject", "contains", "refund", campaign_id(demo_db, "Complaints"))
    )
    intake = Intake(demo_db, channel.id)
    [a] = intake.store([Fetched("INBOX", 1, 1, mail(subject="refund", message_id="<1@x>"))])
    assert a.campaign_id == campaign_id(demo_db, "Returns")
    channels.update_filter(
        first.id,
        FilterData("subject", "contains", "refund", campaign_id(demo_db, "Returns"), enabled=False),
    )
    intake.reload()
    [b] = intake.store([Fetched("INBOX", 1, 2, mail(subject="refund", message_id="<2@x>"))])
    assert b.campaign_id == campaign_id(demo_db, "Complaints")


def test_nul_characters_and_huge_headers_do_not_stop_storing(demo_db, support) -> None:
    huge_id = "<" + "x" * 3000 + "@example.com>"
    raw = (
        b"From: Nul\x00Sender <n@example.com>\r\nSubject: order\x00 with a NUL\r\n"
        b"Message-ID: " + huge_id.encode() + b"\r\nContent-Type: text/plain\r\n\r\n"
        b"body with \x00 NUL complaint\r\n"
    )
    [a, b] = support.store([Fetched("INBOX", 7, 1, raw), Fetched("INBOX", 7, 2, mail())])
    assert a.new and b.new
    with demo_db.session() as s:
        email = s.get_one(Email, a.email_id)
        assert "\x00" not in email.subject and email.subject.startswith("order")
        assert email.message_id is not None and len(email.message_id) == 1000
        assert email.campaign_id == campaign_id(demo_db, "Orders")
        notes = " ".join(
            h.detail for h in s.scalars(select(History).where(History.email_id == email.id))
        )
    assert "NUL characters in subject replaced" in notes
    assert "message_id shortened to 1000 characters" in notes
    # Recognised again after a UIDVALIDITY change, despite the shortened Message-ID.
    [again] = support.store([Fetched("INBOX", 8, 1, raw)])
    assert not again.new and again.email_id == a.email_id


def history_of(db: Database, email_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(select(History).where(History.email_id == email_id).order_by(History.id))
        return [(h.action, h.detail) for h in rows]


def test_a_copy_delivered_later_is_the_same_email_known_under_both_uids(demo_db, support) -> None:
    [first] = support.store([Fetched("INBOX", 7, 1, mail())])
    [copy] = support.store([Fetched("INBOX", 7, 2, mail())])  # the same bytes, a day later
    assert count(demo_db) == 1 and copy.email_id == first.email_id
    assert support.known_uids("INBOX", 7, [1, 2, 3]) == {1, 2}
    assert (copy.new, copy.copy, first.copy) == (False, True, False)
    [*_, (action, detail)] = history_of(demo_db, first.email_id)
    assert action == "arrived again" and "copy" in detail and "UID 2" in detail
    # Both copies are known: a pass finds both again and stores (and notes) nothing.
    again = support.store([Fetched("INBOX", 7, 1, mail()), Fetched("INBOX", 7, 2, mail())])
    assert [(r.email_id, r.new, r.copy) for r in again] == [(first.email_id, False, False)] * 2
    assert len(history_of(demo_db, first.email_id)) == 3
    assert support.known_uids("INBOX", 7, [1, 2]) == {1, 2}


@pytest.mark.parametrize("message_id", ["<m1@example.com>", None])
def test_copies_in_one_batch_are_one_email_known_under_every_uid(
    demo_db, support, message_id
) -> None:
    raw = mail(message_id=message_id)
    results = support.store(
        [
            Fetched("INBOX", 7, 1, raw),
            Fetched("INBOX", 7, 2, mail(message_id="<other@example.com>")),
            Fetched("INBOX", 7, 3, raw),
            Fetched("INBOX", 7, 4, raw),
        ]
    )
    assert count(demo_db) == 2
    assert support.known_uids("INBOX", 7, [1, 2, 3, 4]) == {1, 2, 3, 4}
    one = results[0].email_id
    assert [r.email_id for r in results] == [one, results[1].email_id, one, one]
    assert [(r.new, r.copy) for r in results] == [(True, False), (True, False)] + [
        (False, True)
    ] * 2
    [(arrived, detail), (routed, _)] = history_of(demo_db, one)
    assert (arrived, routed) == ("arrived", "routed")
    assert "(INBOX, UID 1)" in detail and "copy" in detail and "UID 3, 4" in detail


def test_a_uidvalidity_change_finds_both_copies_again_without_noting_a_copy(
    demo_db, support
) -> None:
    [a, b] = support.store([Fetched("INBOX", 7, 1, mail()), Fetched("INBOX", 7, 2, mail())])
    assert a.email_id == b.email_id
    noted = len(history_of(demo_db, a.email_id))
    # The folder recreated: both copies come back under new UIDs, one per batch here.
    [c] = support.store([Fetched("INBOX", 8, 5, mail())])
    [d] = support.store([Fetched("INBOX", 8, 6, mail())])
    assert (c.email_id, d.email_id) == (a.email_id, a.email_id) and count(demo_db) == 1
    assert support.known_uids("INBOX", 8, [5, 6]) == {5, 6}
    assert len(history_of(demo_db, a.email_id)) == noted
    assert not (c.new or d.new or c.copy or d.copy)
    # A third copy under the new UIDVALIDITY is a copy again.
    [e] = support.store([Fetched("INBOX", 8, 7, mail())])
    assert e.copy and e.email_id == a.email_id
    assert "UID 7" in history_of(demo_db, a.email_id)[-1][1]


def test_the_same_message_id_with_other_bytes_stays_a_separate_email(demo_db, support) -> None:
    [a, b] = support.store(
        [Fetched("INBOX", 7, 1, mail(body="first")), Fetched("INBOX", 7, 2, mail(body="second"))]
    )
    [c] = support.store([Fetched("INBOX", 7, 3, mail(body="third"))])
    assert a.new and b.new and c.new and not (a.copy or b.copy or c.copy)
    assert len({a.email_id, b.email_id, c.email_id}) == 3 and count(demo_db) == 3
