"""Management ▸ Emails service: SQL paging, sorting and filtering, detail, raw, JSON."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy import event, func, insert, select, update

from app.cli import main
from app.db.engine import Database
from app.db.models import (
    Attachment,
    Campaign,
    Channel,
    Email,
    EmailStatus,
    History,
    Reply,
    ReplyState,
    User,
)
from app.services.auth import Actor
from app.services.emails import EmailQuery, EmailService, SortKey
from app.services.errors import NotFound, PermissionDenied
from app.services.intake import Fetched, Intake
from tests.conftest import copy_database, derived_template

# ---- realistic mail ------------------------------------------------------------

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAABgAAAAYCAIAAABvFaqvAAAAH0lEQVR4nGM4ISdHFcQwatCoQaMGjRo0atCoQQNvEADG"
    "tUkfvb3KfwAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + bytes(range(256))
UNICODE_SUBJECT = "Größe – 5 € 日本語"
BASE_TIME = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SENDERS = [
    ("Zoe Adams", "zoe@customers.example"),
    ("bob brown", "bob@customers.example"),
    ("Carla Diaz", "carla@partner.example.org"),
    ("Anne Éclair", "anne@customers.example"),
    ("dave evans", "dave@customers.example"),
]
SUBJECTS = [
    "Where is my order 1001?",
    "I want to return a kettle",
    "Question about opening hours",
    "Partnership proposal",
    "billing query",
]


def _message(i: int, subject: str, sender: tuple[str, str]) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"{sender[0]} <{sender[1]}>"
    msg["To"] = "Example Retail Support <support@example.com>"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Nov 2026 08:00:00 +0000"
    msg["Message-ID"] = f"<m{i}@customers.example>"
    return msg


def plain_mail(i: int, subject: str, sender: tuple[str, str], body: str) -> bytes:
    msg = _message(i, subject, sender)
    msg.set_content(body)
    return msg.as_bytes()


def html_mail(i: int, subject: str, sender: tuple[str, str]) -> bytes:
    """HTML with a tracking pixel, a script and an event handler (plus a text part)."""
    msg = _message(i, subject, sender)
    msg.set_content("Please see the HTML version.")
    msg.add_alternative(
        '<html><body><p onclick="steal()">Hello <b>team</b>, my parcel is late.</p>'
        "<script>alert('x')</script>"
        '<img src="https://t.example/p.gif" width="1" height="1">'
        '<p style="background:url(https://t.example/bg.png)">Styled</p>'
        '<a href="javascript:alert(1)">click</a> <a href="https://shop.example/help">help</a>'
        "</body></html>",
        subtype="html",
    )
    return msg.as_bytes()


def cid_mail(i: int, subject: str, sender: tuple[str, str]) -> bytes:
    """multipart/related: HTML showing an inline image by Content-ID."""
    msg = _message(i, subject, sender)
    msg.set_content("Our logo is attached inline.")
    msg.add_alternative(
        '<p>Our logo:</p><img src="cid:logo@customers.example" alt="Logo">', subtype="html"
    )
    html_part = msg.get_payload()[1]
    html_part.add_related(PNG, "image", "png", cid="<logo@customers.example>")
    return msg.as_bytes()


def attachment_mail(i: int, subject: str, sender: tuple[str, str]) -> bytes:
    msg = _message(i, subject, sender)
    msg.set_content("Invoice attached.")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice 7.pdf")
    return msg.as_bytes()


def unicode_mail(i: int, sender: tuple[str, str]) -> bytes:
    msg = _message(i, UNICODE_SUBJECT, sender)
    msg.set_content(f"Die {UNICODE_SUBJECT} passt nicht.\n")
    return msg.as_bytes()


def sample_raw(i: int) -> bytes:
    sender = SENDERS[i % len(SENDERS)]
    subject = f"{SUBJECTS[i % len(SUBJECTS)]} #{i}"
    kind = i % 5
    if kind == 1:
        return html_mail(i, subject, sender)
    if kind == 2:
        return cid_mail(i, subject, sender)
    if kind == 3:
        return attachment_mail(i, subject, sender)
    if kind == 4 and i % 10 == 9:
        return unicode_mail(i, sender)
    body = "I have a complaint about the delivery." if i % 7 == 0 else f"Message number {i}."
    return plain_mail(i, subject, sender, body)


@dataclass
class Seeded:
    ids: list[int]  # in arrival order
    raw: dict[int, bytes]
    html_id: int
    cid_id: int
    attachment_id: int
    unicode_id: int
    quarantined_id: int
    assigned_ids: list[int]


def channel_id(db: Database, name: str = "Support mailbox") -> int:
    with db.session() as s:
        return s.scalars(select(Channel.id).where(Channel.name == name)).one()


def user_id(db: Database, login: str) -> int:
    with db.session() as s:
        return s.scalars(select(User.id).where(User.login == login)).one()


def campaign_id(db: Database, title: str) -> int:
    with db.session() as s:
        return s.scalars(select(Campaign.id).where(Campaign.title == title)).one()


def seed_emails(db: Database, count: int = 50) -> Seeded:
    """``count`` emails through Intake, an hour apart; a few assigned, one quarantined,
    one with replies."""
    intake = Intake(db, channel_id(db))
    ids: list[int] = []
    raw: dict[int, bytes] = {}
    for i in range(count):
        data = sample_raw(i)
        [stored] = intake.store(
            [Fetched("INBOX", 1, i + 1, data)], received_at=BASE_TIME + timedelta(hours=i)
        )
        ids.append(stored.email_id)
        raw[stored.email_id] = data
    alice, bob = user_id(db, "alice"), user_id(db, "bob")
    assigned = ids[3:9]
    with db.session() as s:
        for n, email_id in enumerate(assigned):
            s.execute(
                update(Email)
                .where(Email.id == email_id)
                .values(
                    status=EmailStatus.ASSIGNED if n % 2 else EmailStatus.ACTIONED,
                    agent_id=alice if n % 3 else bob,
                    taken_at=BASE_TIME + timedelta(days=3),
                )
            )
        quarantined = ids[-1]
        s.execute(
            update(Email)
            .where(Email.id == quarantined)
            .values(
                status=EmailStatus.QUARANTINED,
                campaign_id=None,
                quarantine_reason="No filter matched and the channel has no default campaign.",
            )
        )
        answered = ids[1]  # an HTML email: two replies, inserted out of time order
        for minutes, subject in ((90, "Second reply"), (30, "First reply")):
            s.add(
                Reply(
                    email_id=answered,
                    agent_id=alice,
                    to_addrs="zoe@customers.example",
                    subject=subject,
                    body=f"{subject} body",
                    message_id=f"<reply-{minutes}@example.com>",
                    state=ReplyState.SENT,
                    created_at=BASE_TIME + timedelta(hours=2, minutes=minutes),
                    sent_at=BASE_TIME + timedelta(hours=2, minutes=minutes + 1),
                )
            )
        s.add(
            History(
                email_id=answered,
                at=BASE_TIME + timedelta(hours=2, minutes=30),
                user_id=alice,
                action="replied",
                detail="Sent",
            )
        )
    return Seeded(
        ids=ids,
        raw=raw,
        html_id=ids[1],
        cid_id=ids[2],
        attachment_id=ids[3],
        unicode_id=ids[9],
        quarantined_id=quarantined,
        assigned_ids=assigned,
    )


def bulk_emails(db: Database, count: int) -> None:
    """``count`` small emails inserted in one statement (for the laziness tests)."""
    channel = channel_id(db)
    campaign = campaign_id(db, "Orders")
    rows = [
        {
            "channel_id": channel,
            "campaign_id": campaign,
            "status": EmailStatus.QUEUED,
            "from_addr": f"Customer {i} <c{i}@customers.example>",
            "to_addrs": "support@example.com",
            "subject": f"Bulk order question {i:05d}",
            "message_id": f"<bulk{i}@customers.example>",
            "received_at": BASE_TIME - timedelta(minutes=i),
            "queued_at": BASE_TIME - timedelta(minutes=i),
            "raw": b"Subject: bulk\r\n\r\n" + b"x" * 2000,
            "size": 2018,
        }
        for i in range(count)
    ]
    with db.session() as s:
        s.execute(insert(Email), rows)


def seeded_database_fixtures(label: str):  # type: ignore[no-untyped-def]
    """The fixtures of a test module on the demo organisation with the 50 emails of
    ``seed_emails``: (_emails_template, demo_db — overriding conftest's —, seeded). The
    seeded template is built once a module, named by ``label``."""

    @pytest.fixture(scope="module")
    def _emails_template(
        _demo_template: str,
        tmp_path_factory: pytest.TempPathFactory,
        request: pytest.FixtureRequest,
    ) -> tuple[str, Seeded]:
        return derived_template(
            _demo_template, label, seed_emails, tmp_path_factory.mktemp(label), request
        )

    @pytest.fixture
    def demo_db(
        _emails_template: tuple[str, Seeded], tmp_path: Path, request: pytest.FixtureRequest
    ) -> Iterator[Database]:
        database = copy_database(_emails_template[0], tmp_path, request)
        yield database
        database.dispose()

    @pytest.fixture
    def seeded(_emails_template: tuple[str, Seeded]) -> Seeded:
        return _emails_template[1]

    return _emails_template, demo_db, seeded


_emails_template, demo_db, seeded = seeded_database_fixtures("emails")


@pytest.fixture
def service(demo_db: Database, supervisor: Actor) -> EmailService:
    return EmailService(demo_db, supervisor)


def all_rows(service: EmailService, query: EmailQuery) -> list:  # type: ignore[type-arg]
    return service.page(query, 0, 10_000)


def sqlite_lower(text: str | None) -> str:
    """SQLite's lower(): ASCII letters only."""
    return "".join(c.lower() if c.isascii() else c for c in text or "")


# ---- list -----------------------------------------------------------------------


def test_count_and_first_page_newest_first(service, seeded) -> None:  # type: ignore[no-untyped-def]
    assert service.count(EmailQuery()) == 50
    rows = service.page(EmailQuery(), 0, 20)
    assert [r.id for r in rows] == list(reversed(seeded.ids))[:20]
    quarantined = rows[0]
    assert quarantined.status == EmailStatus.QUARANTINED and quarantined.campaign is None
    assert quarantined.flags == ("quarantined",)
    assert rows[1].channel == "Support mailbox" and rows[1].campaign
    second = service.page(EmailQuery(), 20, 20)
    assert [r.id for r in second] == list(reversed(seeded.ids))[20:40]
    assert service.page(EmailQuery(), 60, 20) == []


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    "key", [SortKey.FROM, SortKey.SUBJECT, SortKey.CAMPAIGN, SortKey.AGENT, SortKey.RECEIVED]
)
def test_sorting_is_done_in_sql(service, seeded, demo_db, key, descending) -> None:  # type: ignore[no-untyped-def]
    rows = all_rows(service, EmailQuery(sort=key, descending=descending))
    with demo_db.session() as s:
        records = s.execute(
            select(Email.id, Email.from_addr, Email.subject, Campaign.title, User.display_name)
            .outerjoin(Campaign, Email.campaign_id == Campaign.id)
            .outerjoin(User, Email.agent_id == User.id)
        ).all()
    by_id = {r.id: r for r in records}
    value = {
        SortKey.FROM: lambda r: sqlite_lower(r.from_addr),
        SortKey.SUBJECT: lambda r: sqlite_lower(r.subject),
        SortKey.CAMPAIGN: lambda r: sqlite_lower(r.title),
        SortKey.AGENT: lambda r: sqlite_lower(r.display_name),
        SortKey.RECEIVED: lambda r: seeded.ids.index(r.id),
    }[key]
    expected = sorted(by_id, key=lambda i: (value(by_id[i]), i), reverse=descending)
    assert [r.id for r in rows] == expected
    assert len({value(by_id[i]) for i in expected}) > 2  # the order is not trivial


def test_status_sorts_in_lifecycle_order(service, seeded) -> None:  # type: ignore[no-untyped-def]
    statuses = [
        r.status for r in all_rows(service, EmailQuery(sort=SortKey.STATUS, descending=False))
    ]
    order = list(EmailStatus)
    assert statuses == sorted(statuses, key=order.index)
    assert statuses[0] == EmailStatus.QUEUED and statuses[-1] == EmailStatus.QUARANTINED


def test_filters_narrow_the_list(service, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    def ids(query: EmailQuery) -> set[int]:
        rows = all_rows(service, query)
        assert service.count(query) == len(rows)
        return {r.id for r in rows}

    orders = campaign_id(demo_db, "Orders")
    with demo_db.session() as s:
        in_orders = set(s.scalars(select(Email.id).where(Email.campaign_id == orders)))
    assert 0 < len(in_orders) < 50
    assert ids(EmailQuery(campaign_id=orders)) == in_orders
    assert ids(EmailQuery(status=EmailStatus.QUARANTINED)) == {seeded.quarantined_id}
    alice = user_id(demo_db, "alice")
    with demo_db.session() as s:
        alices = set(s.scalars(select(Email.id).where(Email.agent_id == alice)))
    assert alices and ids(EmailQuery(agent_id=alice)) == alices
    assert ids(EmailQuery(channel_id=channel_id(demo_db, "Sales mailbox"))) == set()
    assert len(ids(EmailQuery(channel_id=channel_id(demo_db)))) == 50
    # dates: [from, to)
    window = EmailQuery(
        received_from=BASE_TIME + timedelta(hours=10), received_to=BASE_TIME + timedelta(hours=15)
    )
    assert ids(window) == set(seeded.ids[10:15])
    # text: subject, sender, recipients, case-insensitive; LIKE wildcards are literal
    assert ids(EmailQuery(text="KETTLE")) == {i for n, i in enumerate(seeded.ids) if n % 5 == 1}
    assert ids(EmailQuery(text="partner.EXAMPLE.org")) == {
        i for n, i in enumerate(seeded.ids) if n % 5 == 2
    }
    assert ids(EmailQuery(text="support@example")) == set(seeded.ids)
    assert ids(EmailQuery(text="5 € 日本")) == {seeded.ids[n] for n in (9, 19, 29, 39, 49)}
    # non-ASCII letters too: "GRÖSSE" finds "Größe"
    assert ids(EmailQuery(text="GRÖSSE – 5")) == {seeded.ids[n] for n in (9, 19, 29, 39, 49)}
    assert ids(EmailQuery(text="%")) == set()
    assert ids(EmailQuery(text="_")) == set()
    combined = EmailQuery(campaign_id=orders, text="#1", status=EmailStatus.QUEUED)
    assert ids(combined) <= in_orders


def test_body_search_once_decoded(service, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    # The demo channel has a Body filter, so intake decoded the bodies already.
    complaint = {i for i in seeded.ids if b"complaint about" in seeded.raw[i]}
    found = {r.id for r in all_rows(service, EmailQuery(text="COMPLAINT about"))}
    assert complaint and complaint <= found
    # A body never decoded is not searched (but the headers still are).
    with demo_db.session() as s:
        s.execute(
            update(Email).where(Email.id == seeded.ids[0]).values(text_body=None, html_body=None)
        )
    assert seeded.ids[0] not in {r.id for r in all_rows(service, EmailQuery(text="complaint"))}
    service.detail(seeded.ids[0])
    assert seeded.ids[0] in {r.id for r in all_rows(service, EmailQuery(text="complaint"))}


def test_the_list_never_reads_message_bytes(service, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        # (the services' check of the user's current role, at most once a second: no read
        # of the list; on PostgreSQL it runs on the autocommit engine, not recorded here)
        if not statement.startswith("SELECT users.role, users.active"):
            statements.append(statement)

    event.listen(demo_db.engine, "before_cursor_execute", record)
    try:
        query = EmailQuery(text="order", sort=SortKey.CAMPAIGN)
        service.count(query)
        service.page(query, 0, 200)
        service.list_json(query)
    finally:
        event.remove(demo_db.engine, "before_cursor_execute", record)
    assert len(statements) == 3
    assert all("emails.raw" not in s for s in statements)
    assert "ORDER BY" in statements[1] and "LIMIT" in statements[1]


# ---- detail ---------------------------------------------------------------------


def test_detail_sanitizes_html_and_saves_the_decoded_body(service, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        s.execute(
            update(Email).where(Email.id == seeded.html_id).values(text_body=None, html_body=None)
        )
    detail = service.detail(seeded.html_id)
    assert detail.safe_html is not None
    assert "parcel is late" in detail.safe_html
    for bad in ("<script", "alert", "onclick", "t.example", "javascript:", "url("):
        assert bad not in detail.safe_html, bad
    assert "[remote image blocked]" in detail.safe_html
    assert 'href="https://shop.example/help"' in detail.safe_html
    with demo_db.session() as s:
        email = s.get_one(Email, seeded.html_id)
        assert email.text_body and email.text_body.startswith("Please see the HTML")
        assert email.html_body and "<script>" in email.html_body  # stored as received
    # replies in time order, history with who
    assert [r.subject for r in detail.replies] == ["First reply", "Second reply"]
    assert detail.replies[0].agent == "Alice Agent"
    assert [h.action for h in detail.history] == ["arrived", "routed", "replied"]
    assert detail.history[-1].user == "Alice Agent"


def test_cid_image_becomes_a_data_url(service, seeded) -> None:  # type: ignore[no-untyped-def]
    detail = service.detail(seeded.cid_id)
    encoded = base64.b64encode(PNG).decode()
    assert detail.safe_html is not None
    assert f'src="data:image/png;base64,{encoded}"' in detail.safe_html
    assert "cid:" not in detail.safe_html
    [image] = detail.attachments
    assert image.content_id == "logo@customers.example" and image.content_type == "image/png"


def test_attachments_are_listed_once_and_read_back(service, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    first = service.detail(seeded.attachment_id)
    again = service.detail(seeded.attachment_id)
    assert [a.filename for a in first.attachments] == ["invoice 7.pdf"]
    assert again.attachments == first.attachments
    with demo_db.session() as s:
        assert (
            s.scalar(select(func.count()).where(Attachment.email_id == seeded.attachment_id)) == 1
        )
    name, content_type, data = service.attachment(seeded.attachment_id, first.attachments[0].id)
    assert (name, content_type, data) == ("invoice 7.pdf", "application/pdf", PDF)
    with pytest.raises(NotFound):
        service.attachment(seeded.html_id, first.attachments[0].id)


def test_unicode_and_raw_source(service, seeded) -> None:  # type: ignore[no-untyped-def]
    detail = service.detail(seeded.unicode_id)
    assert detail.subject == UNICODE_SUBJECT
    assert detail.text_body and UNICODE_SUBJECT in detail.text_body
    assert service.raw(seeded.unicode_id) == seeded.raw[seeded.unicode_id]
    with pytest.raises(NotFound):
        service.raw(999_999)
    with pytest.raises(NotFound):
        service.detail(999_999)


def test_quarantined_detail_has_its_reason(service, seeded) -> None:  # type: ignore[no-untyped-def]
    detail = service.detail(seeded.quarantined_id)
    assert detail.status == EmailStatus.QUARANTINED and detail.campaign is None
    assert detail.quarantine_reason and "no default campaign" in detail.quarantine_reason
    assert detail.flags_text == "Quarantined"


# ---- JSON, CLI and permissions ----------------------------------------------------

REQUIRED_KEYS = {
    "id",
    "channel",
    "campaign",
    "status",
    "from",
    "to",
    "subject",
    "message_id",
    "received_at",
    "agent",
    "flags",
}


def test_list_json(service, seeded) -> None:  # type: ignore[no-untyped-def]
    records = service.list_json(EmailQuery())
    assert len(records) == 50 and all(set(r) >= REQUIRED_KEYS for r in records)
    json.dumps(records)
    newest = records[0]
    assert newest["flags"] == ["quarantined"] and newest["campaign"] is None
    assert newest["received_at"] == (BASE_TIME + timedelta(hours=49)).isoformat()
    assert datetime.fromisoformat(newest["received_at"]).tzinfo is not None
    unicode = next(r for r in records if r["id"] == seeded.unicode_id)
    assert (
        unicode["subject"] == UNICODE_SUBJECT and unicode["message_id"] == "<m9@customers.example>"
    )
    assigned = [r for r in records if r["agent"]]
    assert {r["agent"] for r in assigned} == {"alice", "bob"}
    assert len(service.list_json(EmailQuery(limit=5, offset=2))) == 5


def test_cli_emails_list_json(demo_db, seeded, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--database", demo_db.url, "emails", "list", "--json"]
    assert main([*args, "--campaign", "Orders", "--limit", "3"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 3
    assert all(set(r) >= REQUIRED_KEYS and r["campaign"] == "Orders" for r in records)
    assert main([*args, "--status", "quarantined"]) == 0
    [quarantined] = json.loads(capsys.readouterr().out)
    assert quarantined["id"] == seeded.quarantined_id and quarantined["status"] == "quarantined"
    assert main([*args, "--campaign", "Nope"]) == 3
    assert "no email campaign titled 'Nope'" in capsys.readouterr().err
    assert main(["--database", demo_db.url, "emails", "list", "--limit", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_agents_may_not_see_the_records(demo_db, seeded, agent) -> None:  # type: ignore[no-untyped-def]
    service = EmailService(demo_db, agent)
    calls: Iterator = iter(  # type: ignore[type-arg]
        [
            lambda: service.count(EmailQuery()),
            lambda: service.page(EmailQuery(), 0, 10),
            lambda: service.detail(seeded.html_id),
            lambda: service.raw(seeded.html_id),
            lambda: service.attachment(seeded.attachment_id, 1),
            lambda: service.list_json(EmailQuery()),
            lambda: service.filter_options(),
        ]
    )
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()


def test_administrators_see_everything(demo_db, seeded, admin) -> None:  # type: ignore[no-untyped-def]
    service = EmailService(demo_db, admin)
    assert service.count(EmailQuery()) == 50
    options = service.filter_options()
    assert ("Orders" in [t for _, t in options.campaigns]) and len(options.channels) == 2
    assert "Alice Agent" in [n for _, n in options.agents]


def test_bulk_paging_is_stable(service, demo_db) -> None:  # type: ignore[no-untyped-def]
    bulk_emails(demo_db, 1000)
    query = EmailQuery(text="bulk order question", sort=SortKey.SUBJECT, descending=False)
    pages = [service.page(query, offset, 200) for offset in range(0, 1000, 200)]
    subjects = [r.subject for page in pages for r in page]
    assert subjects == sorted(subjects) and len(set(subjects)) == 1000


# ---- hostile content (issue 11) -------------------------------------------------------

LONG_NAME = "n" * 1500 + ".pdf"


def hostile_attachments_mail() -> bytes:
    """Attachments named to escape a folder, hide their type, carry NUL or exceed every
    column; a Content-ID with NUL over 1,000 characters; a text part holding NUL."""
    parts = [
        (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit",
         b"See the files.\x00 Thanks."),
        (b'Content-Type: application/octet-stream\r\n'
         b'Content-Disposition: attachment; filename="../../.bashrc"', b"alias ls=rm"),
        (b"Content-Type: text/plain\r\n"
         b"Content-Disposition: attachment; filename*=utf-8''a%00b.txt", b"nul"),
        (b"Content-Type: application/pdf\r\n"
         b'Content-Disposition: attachment; filename="' + LONG_NAME.encode() + b'"', b"long"),
        (b"Content-Type: application/octet-stream\r\n"
         b"Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe", b"rtl"),
        (b"Content-Type: image/png\r\nContent-Disposition: inline\r\n"
         b"Content-ID: <" + b"c" * 1200 + b"\x00@x>", b"png"),
    ]  # fmt: skip
    head = (
        b"From: Zoe Adams <zoe@customers.example>\r\nTo: support@example.com\r\n"
        b"Subject: Files\r\nDate: Mon, 02 Nov 2026 08:00:00 +0000\r\n"
        b"Message-ID: <hostile-files@customers.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
    )
    body = b"".join(b"--XX\r\n" + h + b"\r\n\r\n" + content + b"\r\n" for h, content in parts)
    return head + body + b"--XX--\r\n"


def store(db: Database, raw: bytes, uid: int = 1000) -> int:
    [stored] = Intake(db, channel_id(db)).store([Fetched("INBOX", 1, uid, raw)])
    return stored.email_id


def test_any_attachment_name_is_stored_and_the_email_opens(service, demo_db) -> None:  # type: ignore[no-untyped-def]
    email_id = store(demo_db, hostile_attachments_mail())
    for _view in range(2):  # decoded and stored, then read back as stored
        detail = service.detail(email_id)
        assert detail.text_body == "See the files.\ufffd Thanks."
        names = [a.filename for a in detail.attachments]
        assert names == ["../../.bashrc", "a\ufffdb.txt", LONG_NAME, "invoice\u202efdp.exe", ""]
        assert detail.attachments[-1].content_id == "c" * 1200 + "\ufffd@x"
    contents = [service.attachment(email_id, a.id)[2] for a in detail.attachments]
    assert contents == [b"alias ls=rm", b"nul", b"long", b"rtl", b"png"]
    with demo_db.session() as s:
        stored = s.scalars(select(Attachment.filename).where(Attachment.email_id == email_id))
        assert sorted(stored) == sorted(names)


def test_the_body_can_be_read_apart(service, demo_db) -> None:  # type: ignore[no-untyped-def]
    email_id = store(demo_db, hostile_attachments_mail())
    quick = service.detail(email_id, body=False)
    assert not quick.body_loaded and quick.text_body is None and quick.attachments == []
    assert quick.subject == "Files" and quick.history
    body = service.body(email_id)  # decoded and saved the first time
    assert body.text_body == "See the files.\ufffd Thanks." and len(body.attachments) == 5
    again = service.detail(email_id, body=False)
    assert [a.filename for a in again.attachments] == [a.filename for a in body.attachments]


def test_many_inline_images_are_read_in_one_parse(service, demo_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import app.services.email_content as emails_module

    msg = _message(7000, "Images", SENDERS[0])
    msg.set_content("Images.")
    msg.add_alternative("".join(f'<img src="cid:i{n}@x">' for n in range(60)), subtype="html")
    for n in range(60):
        msg.get_payload()[1].add_related(PNG, "image", "png", cid=f"<i{n}@x>")
    email_id = store(demo_db, msg.as_bytes())
    parses: list[int] = []
    real = emails_module.message_from_bytes

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        parses.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(emails_module, "message_from_bytes", counted)
    body = service.body(email_id)
    assert body.safe_html is not None
    assert body.safe_html.count("data:image/png;base64,") == 60
    assert len(parses) == 1
