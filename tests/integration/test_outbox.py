"""The outbox against real Postfix and Dovecot: headers as received, one connection per batch,
retry across an SMTP outage, a permanent refusal, some recipients refused and the others
sent the reply (once), the unknown outcome (the server's answer to the end of DATA lost)
with and without a Sent folder, a crash after sending, injection."""

from __future__ import annotations

import base64
import email
import secrets as random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select, update

from app.channel_service.outbox import drain_outbox
from app.channel_service.sync import sync_channel
from app.db.engine import Database
from app.db.models import (
    Campaign,
    Channel,
    Email,
    EmailStatus,
    History,
    Reply,
    ReplyState,
    Security,
    User,
    utcnow,
)
from app.mail import smtp
from app.mail.fields import decode_words
from app.mail.parse import Headers
from app.services import outbox
from app.services.auth import SYSTEM
from app.services.campaigns import CampaignData, CampaignService
from app.services.channels import ChannelData, ChannelService
from app.services.errors import ValidationError
from app.services.secrets import SecretStore
from app.services.templates import TemplateService
from app.services.work import (
    AddressesNeedConfirmation,
    ReplyText,
    WorkService,
    invalid_addresses,
)
from tests.conftest import actor_of
from tests.servers.mail import Mailbox, MailServer
from tests.servers.smtp_proxy import SmtpProxy

pytestmark = pytest.mark.server
SUBJECT = "Re: Größe – 5 € 日本語"
BODY = "Hello Zoë,\n\n.a line that starts with a dot\nGrüße – 5 €\n"


# ---- set-up ---------------------------------------------------------------------------


def make_channel(
    db: Database,
    server: MailServer,
    box: Mailbox,
    store: SecretStore,
    *,
    smtp_port: int | None = None,
    smtp_security: Security = Security.STARTTLS,
    sent_folder: str | None = None,
) -> int:
    """A channel on ``box``; SMTP through ``smtp_port`` (a proxy) in plain text if given."""
    channels = ChannelService(db, SYSTEM, store)
    with db.session() as s:
        campaign = s.scalars(select(Campaign.id).where(Campaign.title == "General Enquiries")).one()
    plain = smtp_security == Security.NONE
    channel = channels.create_channel(
        ChannelData(
            name=f"Real {box.address}",
            email_address=box.address,
            display_name="Real Support",
            default_campaign_id=campaign,
            imap_host="127.0.0.1",
            imap_port=server.imaps_port,
            imap_security=Security.SSL,
            imap_username=box.address,
            ca_file=str(server.ca_file),
            smtp_host="127.0.0.1",
            smtp_port=smtp_port or server.smtp_port,
            smtp_security=smtp_security,
            # Postfix relays for 127.0.0.1 without AUTH, and offers AUTH only after STARTTLS
            smtp_username="" if plain else box.address,
            save_sent_copy=sent_folder is not None,
            sent_folder=sent_folder or "Sent",
        )
    )
    channels.set_password(channel.id, "inbound", box.password)
    if not plain:
        channels.set_password(channel.id, "outbound", box.password)
    return channel.id


def campaign_sending_through(db: Database, channel_id: int) -> int:
    """A campaign whose Email Channel is ``channel_id``: its replies go out through it."""
    title = f"Replies via channel {channel_id}"
    with db.session() as s:
        found = s.scalar(select(Campaign.id).where(Campaign.title == title))
        if found is not None:
            return found
        group_id = s.scalars(select(Campaign.group_id).where(Campaign.title == "Orders")).one()
    data = CampaignData(
        title=title, group_id=group_id, channel_id=channel_id, allow_free_format=True
    )
    return CampaignService(db, SYSTEM).create_campaign(data).id


def customer_email(db: Database, channel_id: int) -> int:
    """An email from a customer, as retrieval would have stored it (with a thread behind it),
    taken by Alice."""
    tag = random.token_hex(4)
    campaign = campaign_sending_through(db, channel_id)
    with db.session() as s:
        row = Email(
            channel_id=channel_id,
            campaign_id=campaign,
            status=EmailStatus.ASSIGNED,
            agent_id=agent_id(db),
            from_addr="Zoë Adams <zoe@customers.example>",
            to_addrs="support@example.test",
            subject="Größe – 5 € 日本語",
            message_id=f"<question-{tag}@customers.example>",
            references=f"<first-{tag}@customers.example> <second-{tag}@example.test>",
            raw=b"",
        )
        s.add(row)
        s.flush()
        return row.id


def agent_id(db: Database) -> int:
    with db.session() as s:
        return s.scalars(select(User.id).where(User.login == "alice")).one()


def queue(db: Database, email_id: int, to: str, **kwargs: str) -> Reply:
    """Alice sends a reply, as My Work does; she confirms every address the campaign asks
    about (those that are not one valid address each)."""
    text = ReplyText(
        to=to,
        cc=kwargs.get("cc", ""),
        bcc=kwargs.get("bcc", ""),
        subject=kwargs.get("subject", SUBJECT),
        body=kwargs.get("body", BODY),
    )
    confirmed = invalid_addresses(text.to, text.cc, text.bcc)
    reply_id = WorkService(db, actor_of(db, "alice")).send(email_id, text, confirmed)
    return reply_row(db, reply_id)


def reply_row(db: Database, reply_id: int) -> Reply:
    with db.session() as s:
        return s.get_one(Reply, reply_id)


def customer() -> str:
    # any domain that is not local is delivered to the server's "outbound" mailbox
    return f"customer-{random.token_hex(4)}@example.com"


# ---- reading back ------------------------------------------------------------------------


def copies(
    server: MailServer, message_id: str, address: str | None = None, folder: str = "INBOX"
) -> list[EmailMessage]:
    with server.imap(address or server.outbound) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search(["HEADER", "Message-ID", message_id])
        data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    return [
        email.message_from_bytes(item[b"BODY[]"], policy=policy.default)  # type: ignore[misc]
        for item in data.values()
    ]


def postfix_queue_empty(server: MailServer) -> bool:
    spool = server.base_dir / "spool"
    return not any(
        p.is_file()
        for d in ("maildrop", "incoming", "active", "deferred")
        for p in (spool / d).rglob("*")
    )


def delivered(server: MailServer, message_id: str, timeout: float = 15.0) -> list[EmailMessage]:
    """The copies in the outbound mailbox once Postfix has nothing left to deliver."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = copies(server, message_id)
        if found and postfix_queue_empty(server):
            return copies(server, message_id)
        time.sleep(0.1)
    return copies(server, message_id)


# ---- tests -------------------------------------------------------------------------------


def test_a_reply_arrives_with_its_headers_and_a_copy_in_sent(
    mail_server, mailbox, demo_db, secrets
):  # type: ignore[no-untyped-def]
    channel = make_channel(demo_db, mail_server, mailbox, secrets, sent_folder="Sent")
    email_id = customer_email(demo_db, channel)
    to = customer()
    reply = queue(
        demo_db,
        email_id,
        f"Zoë Adams <{to}>",
        cc='"Team, Billing" <billing@example.org>',
        bcc="audit@example.net",
    )
    report = drain_outbox(demo_db, secrets)
    assert (report.claimed, report.sent, report.connections, report.copies_saved) == (1, 1, 1, 1)

    got = delivered(mail_server, reply.message_id)
    assert got, mail_server.log_tail()
    msg = got[0]
    with demo_db.session() as s:
        answered = s.get_one(Email, email_id)
        first_reply_at = answered.first_reply_at
        parent_refs = answered.references
        parent_id = answered.message_id
    assert str(msg["From"]) == f"Real Support <{mailbox.address}>"
    assert str(msg["To"]) == f"Zoë Adams <{to}>"
    assert str(msg["Cc"]) == '"Team, Billing" <billing@example.org>'
    assert "Bcc" not in msg and b"audit@example.net" not in msg.as_bytes()
    assert str(msg["Subject"]) == SUBJECT
    assert msg["Message-ID"] == reply.message_id
    assert reply.message_id.endswith("@example.test>")
    assert msg["In-Reply-To"] == parent_id
    assert msg["References"].split() == [*parent_refs.split(), parent_id]
    assert msg["Date"] is not None
    assert msg.get_content().replace("\r\n", "\n") == BODY

    row = reply_row(demo_db, reply.id)
    assert (row.state, row.attempts, row.last_error) == (ReplyState.SENT, 1, None)
    assert row.sent_at is not None and first_reply_at == row.sent_at
    in_sent = copies(mail_server, reply.message_id, mailbox.address, "Sent")
    assert len(in_sent) == 1 and str(in_sent[0]["Subject"]) == SUBJECT


def test_a_batch_of_five_uses_one_connection(mail_server, mailbox, demo_db, secrets, monkeypatch):  # type: ignore[no-untyped-def]
    connections = []
    real_connect = smtp.connect

    def counting(settings: smtp.SmtpSettings):  # type: ignore[no-untyped-def]
        connections.append(settings.port)
        return real_connect(settings)

    monkeypatch.setattr(smtp, "connect", counting)
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    replies = [
        queue(demo_db, customer_email(demo_db, channel), customer(), subject=f"Re: order {n}")
        for n in range(5)
    ]
    report = drain_outbox(demo_db, secrets)
    assert (report.claimed, report.sent, report.connections) == (5, 5, 1)
    assert connections == [mail_server.smtp_port]
    for n, reply in enumerate(replies):
        got = delivered(mail_server, reply.message_id)
        assert len(got) == 1 and str(got[0]["Subject"]) == f"Re: order {n}"


def test_smtp_outage_is_retried_with_backoff_and_sent_once(mail_server, mailbox, demo_db, secrets):  # type: ignore[no-untyped-def]
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    reply = queue(demo_db, customer_email(demo_db, channel), customer())
    mail_server.stop_smtp()
    try:
        started = utcnow()
        report = drain_outbox(demo_db, secrets, now=started)
        assert (report.claimed, report.retrying, report.sent) == (1, 1, 0)
        row = reply_row(demo_db, reply.id)
        assert row.state == ReplyState.QUEUED and row.attempts == 1
        assert "refused the connection" in (row.last_error or "")
        assert row.next_attempt_at is not None
        wait = row.next_attempt_at - started
        assert timedelta(seconds=30) <= wait < timedelta(seconds=35)
        # still waiting out the back-off: nothing is tried
        assert drain_outbox(demo_db, secrets, now=started + timedelta(seconds=10)).claimed == 0
    finally:
        mail_server.start_smtp()
    report = drain_outbox(demo_db, secrets, now=started + timedelta(seconds=31))
    assert (report.claimed, report.sent) == (1, 1)
    assert drain_outbox(demo_db, secrets, now=started + timedelta(hours=2)).claimed == 0
    row = reply_row(demo_db, reply.id)
    assert (row.state, row.attempts) == (ReplyState.SENT, 2)
    assert len(delivered(mail_server, reply.message_id)) == 1


def test_an_unknown_local_recipient_fails_with_the_servers_text(
    mail_server, mailbox, demo_db, secrets
):  # type: ignore[no-untyped-def]
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    email_id = customer_email(demo_db, channel)
    reply = queue(demo_db, email_id, "nobody@example.test", cc="nobody-else@example.test")
    report = drain_outbox(demo_db, secrets)
    assert (report.failed, report.sent, report.retrying) == (1, 0, 0)
    row = reply_row(demo_db, reply.id)
    assert row.state == ReplyState.FAILED and row.next_attempt_at is None
    assert "nobody@example.test: 550" in (row.last_error or "")
    assert "nobody-else@example.test: 550" in (row.last_error or "")
    assert "User unknown" in (row.last_error or "")
    with demo_db.session() as s:
        history = s.scalars(
            select(History.detail).where(
                History.email_id == email_id, History.action == "failed send"
            )
        ).all()
    assert history == [row.last_error]
    assert [f.reply_id for f in outbox.failed_sends(demo_db)] == [reply.id]
    # every recipient refused: nothing went out, and nothing is retried
    assert drain_outbox(demo_db, secrets, now=utcnow() + timedelta(hours=2)).claimed == 0
    assert copies(mail_server, reply.message_id) == []


# ---- some recipients refused, the others accepted -------------------------------------------


def replies_of(db: Database, email_id: int) -> list[Reply]:
    with db.session() as s:
        return list(s.scalars(select(Reply).where(Reply.email_id == email_id).order_by(Reply.id)))


def history_of(db: Database, email_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.execute(
            select(History.action, History.detail)
            .where(History.email_id == email_id)
            .order_by(History.id)
        )
        return [(action, detail) for action, detail in rows]


def test_a_confirmed_space_separated_pair_goes_to_the_accepted_one_and_names_the_refused(
    mail_server, mailbox, demo_db, secrets
):  # type: ignore[no-untyped-def]
    """End to end: the agent types the seed's "abc@… xyz@…" (a space, no comma), OKs the
    question, and Postfix refuses one of the two at RCPT TO with its own words: the other
    gets the reply, once; the refused one waits in Failed sends with the server's text; a
    retry goes to it alone; History tells what happened."""
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    email_id = customer_email(demo_db, channel)
    alice = WorkService(demo_db, actor_of(demo_db, "alice"))
    with demo_db.session() as s:
        answered = s.get_one(Email, email_id)
        answered.agent_id = alice.actor.user_id
        s.execute(
            update(Campaign)
            .where(Campaign.id == answered.campaign_id)
            .values(allow_free_format=True, require_address_confirmation=True)
        )
    accepted, refused = customer(), f"refused-{random.token_hex(4)}@example.com"
    mail_server.refuse_recipient(refused, "550 5.1.1 No such customer here")
    pair = f"{accepted} {refused}"
    text = ReplyText(to=pair, subject=SUBJECT, body=BODY)
    with pytest.raises(AddressesNeedConfirmation) as asked:
        alice.send(email_id, text)
    assert asked.value.addresses == [pair]
    reply_id = alice.send(email_id, text, confirmed=[pair])

    report = drain_outbox(demo_db, secrets)
    assert (report.claimed, report.sent, report.refused, report.failed) == (1, 1, 1, 0)
    sent, failed = replies_of(demo_db, email_id)
    assert (sent.id, sent.state, sent.to_addrs) == (reply_id, ReplyState.SENT, accepted)
    got = delivered(mail_server, sent.message_id)
    assert len(got) == 1, mail_server.log_tail()
    assert str(got[0]["To"]) == f"{accepted}, {refused}"  # the message as the agent wrote it
    server_words = (
        f"{refused}: 550 5.1.1 <{refused}>: Recipient address rejected: No such customer here"
    )
    assert (failed.state, failed.to_addrs, failed.agent_id) == (
        ReplyState.FAILED,
        refused,
        alice.actor.user_id,
    )
    assert failed.last_error is not None
    assert failed.last_error.startswith(f"The mail server refused the recipient(s) {server_words}.")
    assert [(f.reply_id, f.to_addrs) for f in outbox.failed_sends(demo_db)] == [
        (failed.id, refused)
    ]
    assert [(f.reply_id, f.last_error) for f in alice.my_failed_sends()] == [
        (failed.id, failed.last_error)
    ]
    assert history_of(demo_db, email_id)[-3:] == [
        (
            "replied",
            f"Reply to {accepted}, {refused} queued for sending through Real {mailbox.address}",
        ),
        (
            "partially refused",
            f"The mail server refused {server_words}. The reply goes to the recipient(s) it "
            f"accepted ({accepted}); {refused} kept in Failed sends.",
        ),
        ("sent", f"Reply accepted by the mail server for {accepted}"),
    ]

    # Never again to the accepted one: later passes send nothing; a supervisor's retry of
    # the refused part (still refused) reaches nobody else, and once accepted, only it.
    assert drain_outbox(demo_db, secrets, now=utcnow() + timedelta(hours=2)).claimed == 0
    outbox.retry(demo_db, SYSTEM, failed.id)
    again = drain_outbox(demo_db, secrets)
    assert (again.claimed, again.failed, again.sent) == (1, 1, 0)
    assert "No such customer here" in (reply_row(demo_db, failed.id).last_error or "")
    mail_server.refuse_recipient(refused, None)
    outbox.retry(demo_db, SYSTEM, failed.id)
    assert drain_outbox(demo_db, secrets).sent == 1
    resent = delivered(mail_server, failed.message_id)
    assert len(resent) == 1 and str(resent[0]["To"]) == refused
    assert len(copies(mail_server, sent.message_id)) == 1
    assert [r.state for r in replies_of(demo_db, email_id)] == [ReplyState.SENT] * 2


def test_a_recipient_refused_for_now_is_sent_its_reply_later(
    mail_server, mailbox, demo_db, secrets
):  # type: ignore[no-untyped-def]
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    email_id = customer_email(demo_db, channel)
    later = f"later-{random.token_hex(4)}@example.com"
    mail_server.refuse_recipient(later, "450 4.2.1 Mailbox busy, try again later")
    to = customer()
    reply = queue(demo_db, email_id, to, bcc=later)
    started = utcnow()
    report = drain_outbox(demo_db, secrets, now=started)
    assert (report.sent, report.refused, report.retrying) == (1, 1, 0)
    sent, waiting = replies_of(demo_db, email_id)
    assert (sent.id, sent.state, sent.to_addrs, sent.bcc_addrs) == (
        reply.id,
        ReplyState.SENT,
        to,
        "",
    )
    assert (waiting.state, waiting.to_addrs, waiting.bcc_addrs) == (ReplyState.QUEUED, "", later)
    assert "450 4.2.1" in (waiting.last_error or "")
    assert waiting.next_attempt_at is not None and waiting.next_attempt_at > started
    mail_server.refuse_recipient(later, None)
    report = drain_outbox(demo_db, secrets, now=started + timedelta(minutes=5))
    assert (report.claimed, report.sent) == (1, 1)
    assert len(delivered(mail_server, sent.message_id)) == 1
    assert len(delivered(mail_server, waiting.message_id)) == 1
    assert reply_row(demo_db, waiting.id).state == ReplyState.SENT


# ---- the unknown outcome ----------------------------------------------------------------


@pytest.fixture
def proxy_for(mail_server: MailServer) -> Iterator[Callable[..., SmtpProxy]]:
    """A proxy that loses Postfix's answer to the end of data with the connection: the
    client cannot know whether the message was taken (``on_end_of_data`` runs first)."""
    made: list[SmtpProxy] = []

    def make(on_end_of_data: Callable[[], None] | None = None) -> SmtpProxy:
        def drop(_n: int) -> str:
            if on_end_of_data is not None:
                on_end_of_data()
            return "drop"

        made.append(SmtpProxy(mail_server.smtp_port, at_end_of_data=drop))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


@pytest.mark.parametrize(
    ("sent_folder", "filed_by_server", "outcome"),
    [
        (None, False, ReplyState.UNCERTAIN),
        ("Sent", False, ReplyState.UNCERTAIN),
        ("Sent", True, ReplyState.SENT),
    ],
    ids=["no-sent-folder", "not-in-sent", "found-in-sent"],
)
def test_lost_answer_after_data_is_never_resent(  # type: ignore[no-untyped-def]
    mail_server, mailbox, demo_db, secrets, proxy_for, sent_folder, filed_by_server, outcome
):
    holder: dict[str, bytes] = {}

    def file_in_sent() -> None:
        # what Gmail or Microsoft 365 do: the submission server files the message in Sent
        with mail_server.imap(mailbox.address) as client:
            client.append("Sent", holder["data"], flags=(b"\\Seen",))

    proxy = proxy_for(file_in_sent if filed_by_server else None)
    channel = make_channel(
        demo_db,
        mail_server,
        mailbox,
        secrets,
        smtp_port=proxy.port,
        smtp_security=Security.NONE,
        sent_folder=sent_folder,
    )
    reply = queue(demo_db, customer_email(demo_db, channel), customer())
    holder["data"] = outbox.prepare(demo_db, {reply.id: utcnow()})[0].data

    report = drain_outbox(demo_db, secrets)
    assert proxy.accepted.wait(10), proxy.answers_kept  # Postfix did take it
    row = reply_row(demo_db, reply.id)
    assert row.state == outcome, row.last_error
    if outcome == ReplyState.SENT:
        assert report.sent == 1 and "Sent folder" in (row.last_error or "")
    else:
        assert report.uncertain == 1
        assert "may or may not have been sent" in (row.last_error or "")
        assert [f.reply_id for f in outbox.failed_sends(demo_db)] == [reply.id]
    # later passes never send it again
    for hours in (1, 5):
        again = drain_outbox(demo_db, secrets, now=utcnow() + timedelta(hours=hours))
        assert (again.claimed, again.recovered, again.connections) == (0, 0, 0)
    assert len(delivered(mail_server, reply.message_id)) == 1
    assert reply_row(demo_db, reply.id).state == outcome


def test_a_crash_after_sending_is_settled_from_the_sent_folder(
    mail_server, mailbox, demo_db, secrets, monkeypatch
):  # type: ignore[no-untyped-def]
    channel = make_channel(demo_db, mail_server, mailbox, secrets, sent_folder="Sent")
    reply = queue(demo_db, customer_email(demo_db, channel), customer())

    class Crash(BaseException):
        pass

    def crash(*args: object, **kwargs: object) -> bool:
        raise Crash  # the process dies after the 250 and the Sent copy, before recording it

    with monkeypatch.context() as m:
        m.setattr(outbox, "mark_sent", crash)
        started = utcnow()
        with pytest.raises(Crash):
            drain_outbox(demo_db, secrets, now=started)
    assert reply_row(demo_db, reply.id).state == ReplyState.SENDING
    # a new run at once leaves it alone: its sender might still be at work
    assert drain_outbox(demo_db, secrets, now=started + outbox.LEASE / 2).recovered == 0
    report = drain_outbox(demo_db, secrets, now=started + outbox.LEASE + timedelta(minutes=1))
    assert (report.recovered, report.sent, report.connections) == (1, 1, 0)
    row = reply_row(demo_db, reply.id)
    assert row.state == ReplyState.SENT and "Sent folder" in (row.last_error or "")
    assert len(delivered(mail_server, reply.message_id)) == 1


# ---- injection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("Subject", {"subject": "Hi\r\nBcc: evil@example.com"}),
        ("To", {"to": "customer@example.com\r\nBcc: evil@example.com"}),
        ("Cc", {"cc": "Eve\n <evil@example.com>"}),
        ("To", {"to": "customer@example.com, evil@example.com\r\nX-Injected: yes"}),
    ],
)
def test_header_injection_is_refused_and_nothing_is_sent(  # type: ignore[no-untyped-def]
    mail_server, mailbox, demo_db, secrets, field, kwargs
):
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    email_id = customer_email(demo_db, channel)
    to = kwargs.pop("to", customer())
    with pytest.raises(ValidationError) as refused:
        queue(demo_db, email_id, to, **kwargs)
    assert refused.value.field == field
    with demo_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reply)) == 0
        assert s.get_one(Email, email_id).status == EmailStatus.ASSIGNED
    report = drain_outbox(demo_db, secrets)
    assert (report.claimed, report.connections) == (0, 0)


def test_a_subject_changed_behind_the_services_back_fails_before_connecting(
    mail_server, mailbox, demo_db, secrets
):  # type: ignore[no-untyped-def]
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    reply = queue(demo_db, customer_email(demo_db, channel), customer())
    with demo_db.session() as s:
        s.execute(
            update(Reply).where(Reply.id == reply.id).values(subject="Hi\r\nBcc: evil@example.com")
        )
    report = drain_outbox(demo_db, secrets)
    assert (report.failed, report.connections) == (1, 0)
    row = reply_row(demo_db, reply.id)
    assert row.state == ReplyState.FAILED and "Subject: must not contain line breaks" in (
        row.last_error or ""
    )
    assert copies(mail_server, reply.message_id) == []


# ---- PostgreSQL: claims from several processes ----------------------------------------------


def test_concurrent_claims_on_postgresql_never_share_a_reply(postgres_url: str) -> None:
    from app.db import migrate
    from app.services import demo

    db = Database(postgres_url)
    databases: list[Database] = []
    try:
        migrate.upgrade(db)
        demo.seed(db)
        with db.session() as s:
            support = s.scalars(select(Channel.id).where(Channel.name == "Support mailbox")).one()
        replies = {
            queue(db, customer_email(db, support), customer(), subject=f"Re: {n}").id
            for n in range(40)
        }
        databases = [Database(postgres_url) for _ in range(4)]
        got: list[list[int]] = [[] for _ in databases]
        start = threading.Barrier(len(databases))
        now = utcnow()

        def claim(n: int) -> None:
            # every process sees the same 40 candidates, then all claim them at once
            candidates = outbox.due_ids(databases[n], now, 100)
            start.wait()
            got[n].extend(outbox.claim_ids(databases[n], candidates, now))

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(databases))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        everything = [r for g in got for r in g]
        assert sorted(everything) == sorted(replies)  # each claimed by exactly one
        # recovery and release use the same guarded updates on PostgreSQL
        for reply_id in everything:  # each offered to the server by its claimer
            assert outbox.start_transmission(db, reply_id, outbox.process_sender(), now)
        later = now + outbox.LEASE + timedelta(seconds=1)
        stale = outbox.recover_stale(db, later, limit=100)
        assert set(stale) == replies and outbox.recover_stale(db, later, limit=100) == {}
        assert outbox.release(db, sorted(replies)) == len(replies)
        with db.session() as s:
            states = set(s.scalars(select(Reply.state)))
            attempts = set(s.scalars(select(Reply.attempts)))
        assert (states, attempts) == ({ReplyState.QUEUED}, {0})
    finally:
        for d in databases:
            d.dispose()
        db.dispose()


# ---- a subject that decodes to an encoded word, through the whole path (issue 11, item 1) ---

INJECTION = (
    "=?utf-8?q?Order=0D=0AX-Injected:_1=0D=0AContent-Type:_text/html=0D=0A=0D=0A<h1>Pay</h1>?="
)


def hostile_question(sender: str, to: str, message_id: str) -> bytes:
    """A customer's email whose Subject decodes to INJECTION (B encoded words of 45 bytes)."""
    data = INJECTION.encode()
    words = [
        f"=?utf-8?b?{base64.b64encode(data[at : at + 45]).decode()}?="
        for at in range(0, len(data), 45)
    ]
    head = [
        f"From: Eve Customer <{sender}>",
        f"To: {to}",
        "Subject: " + "\r\n ".join(words),
        f"Message-ID: {message_id}",
        f"Date: {format_datetime(utcnow())}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return "\r\n".join([*head, "", "Where is my order?", ""]).encode()


def delivered_to(server: MailServer, address: str, timeout: float = 15.0) -> list[EmailMessage]:
    """The messages to ``address`` in the outbound mailbox once Postfix has delivered all."""
    deadline = time.monotonic() + timeout
    found: list[EmailMessage] = []
    while time.monotonic() < deadline:
        with server.imap(server.outbound) as client:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["TO", address])
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        found = [
            email.message_from_bytes(item[b"BODY[]"], policy=policy.default)  # type: ignore[misc]
            for item in data.values()
        ]
        if found and postfix_queue_empty(server):
            break
        time.sleep(0.1)
    return found


@pytest.mark.parametrize("source", ["customer", "agent", "template"])
def test_a_subject_holding_an_encoded_word_reaches_the_customer_as_that_text(
    mail_server, mailbox, demo_db, secrets, source
):  # type: ignore[no-untyped-def]
    """The issue's subject, stored by retrieval from Dovecot, answered by an agent ("Re: …"
    from the customer's subject, typed by the agent, or from a template), sent through
    Postfix and read back from the customer's mailbox: no X-Injected header, one plain text
    body, the Subject reading as the text."""
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    with demo_db.session() as s:
        s.execute(
            update(Campaign)
            .where(Campaign.title == "General Enquiries")  # the channel's default campaign
            .values(channel_id=channel)
        )
    sender = customer()
    question_id = f"<hostile-{random.token_hex(4)}@customers.example>"
    mail_server.deliver(mailbox.address, hostile_question(sender, mailbox.address, question_id))
    assert sync_channel(demo_db, channel, secrets).stored == 1
    with demo_db.session() as s:
        email_id, stored = s.execute(
            select(Email.id, Email.subject).where(Email.message_id == question_id)
        ).one()
    assert stored == INJECTION

    alice = WorkService(demo_db, actor_of(demo_db, "alice"))
    alice.take(email_id)
    item = alice.open(email_id)
    assert item.reply.to == f"Eve Customer <{sender}>"
    body = "Your order is on its way.\n"
    if source == "customer":
        text, expected = replace(item.reply, body=body), f"Re: {INJECTION}"
    elif source == "agent":
        text, expected = ReplyText(to=sender, subject=INJECTION, body=body), INJECTION
    else:
        template = TemplateService(demo_db, SYSTEM).create_template(
            "Hostile subject", f"{INJECTION} {{{{ email.subject }}}}", body
        )
        with demo_db.session() as s:
            general = s.scalars(
                select(Campaign.id).where(Campaign.title == "General Enquiries")
            ).one()
        CampaignService(demo_db, SYSTEM).add_template(general, template.id)
        (choice,) = [c for c in alice.templates(email_id) if c.template_id == template.id]
        text = ReplyText(sender, "", "", choice.subject, choice.body, template.id)
        expected = f"{INJECTION} {INJECTION}"
    reply_id = alice.send(email_id, text)
    reply = reply_row(demo_db, reply_id)
    assert reply.subject == expected

    report = drain_outbox(demo_db, secrets)
    assert report.sent == 1, report.summary()
    # (found by its To: a reply whose header block broke would lose its Message-ID)
    (got,) = delivered_to(mail_server, sender)
    assert "X-Injected" not in got
    assert got["Message-ID"] == reply.message_id
    assert got.get_content_type() == "text/plain" and not got.is_multipart()
    assert got.get_content().replace("\r\n", "\n") == body
    assert str(got["Subject"]) == expected
    raw = got.as_bytes()
    assert decode_words(Headers(raw).get("Subject") or "") == expected
    assert b"<h1>" not in raw and b"X-Injected" not in raw.split(b"\n\n")[0]


# ---- recipients: more than the server takes (issue 11, item 6) --------------------------------


@pytest.fixture
def recipient_limit(mail_server: MailServer) -> Iterator[Callable[..., None]]:
    """``limit_recipients`` on the shared Postfix, back to its defaults afterwards."""
    yield mail_server.limit_recipients
    mail_server.limit_recipients(None)


def drain_until_idle(db: Database, store: SecretStore, passes: int) -> list[outbox.OutboxReport]:
    """Outbox passes, each after the last one's back-off, until one claims nothing."""
    reports, when = [], utcnow()
    for _ in range(passes):
        report = drain_outbox(db, store, now=when)
        if not report.claimed:
            return reports
        reports.append(report)
        when += timedelta(hours=2)
    raise AssertionError(f"still sending after {passes} passes: {reports[-1].summary()}")


def test_more_recipients_than_postfix_takes_go_out_in_parts_each_once(
    mail_server, mailbox, demo_db, secrets, recipient_limit
):  # type: ignore[no-untyped-def]
    """Postfix takes 5 recipients in a message and answers 452 to the next ones (and, had
    they been asked for anyway, would have ended the connection after 2 more): the reply
    goes to the first 5, the others in further messages at once — every recipient once."""
    recipient_limit(5, overshoot=2, hard_errors=3)
    channel = make_channel(demo_db, mail_server, mailbox, secrets)
    email_id = customer_email(demo_db, channel)
    boxes = [mail_server.new_mailbox("many") for _ in range(12)]
    reply = queue(
        demo_db,
        email_id,
        ", ".join(b.address for b in boxes[:4]),
        cc=", ".join(b.address for b in boxes[4:8]),
        bcc=", ".join(b.address for b in boxes[8:]),
    )
    reports = drain_until_idle(demo_db, secrets, passes=5)
    assert [(r.sent, r.refused, r.failed, r.retrying) for r in reports] == [
        (1, 7, 0, 0),
        (1, 2, 0, 0),
        (1, 0, 0, 0),
    ]
    parts = replies_of(demo_db, email_id)
    assert [p.state for p in parts] == [ReplyState.SENT] * 3 and parts[0].id == reply.id
    told = [d for a, d in history_of(demo_db, email_id) if a == "partially refused"]
    assert len(told) == 2 and all("452 4.5.3 Error: too many recipients" in d for d in told)
    assert all("sent it in another message" in d for d in told)
    for box in boxes:  # each recipient has the reply exactly once
        with mail_server.imap(box.address) as client:
            client.select_folder("INBOX", readonly=True)
            got = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER]"])
        subjects = [
            email.message_from_bytes(item[b"BODY[HEADER]"], policy=policy.default)["Subject"]  # type: ignore[misc]
            for item in got.values()
        ]
        assert subjects == [SUBJECT], box.address
    assert history_of(demo_db, email_id)[-1][0] == "sent"


def test_a_server_that_ends_the_connection_during_the_recipients_fails_the_reply_in_the_end(
    mail_server, mailbox, demo_db, secrets, recipient_limit
):  # type: ignore[no-untyped-def]
    """Postfix ends the connection after 2 errors ("421 … too many errors"), here two
    recipients refused for now: the reply is retried with back-off, then — after
    outbox.MAX_ATTEMPTS attempts — failed with the server's words, never a loop."""
    recipient_limit(1000, hard_errors=1)
    busy = [f"busy-{n}-{random.token_hex(3)}@example.com" for n in range(3)]
    for address in busy:
        mail_server.refuse_recipient(address, "450 4.2.1 Mailbox busy, try again later")
    try:
        channel = make_channel(demo_db, mail_server, mailbox, secrets)
        reply = queue(demo_db, customer_email(demo_db, channel), customer(), bcc=", ".join(busy))
        reports = drain_until_idle(demo_db, secrets, passes=outbox.MAX_ATTEMPTS + 2)
    finally:
        for address in busy:
            mail_server.refuse_recipient(address, None)
    assert len(reports) == outbox.MAX_ATTEMPTS
    assert [r.retrying for r in reports] == [1] * (outbox.MAX_ATTEMPTS - 1) + [0]
    assert reports[-1].failed == 1
    row = reply_row(demo_db, reply.id)
    assert (row.state, row.attempts) == (ReplyState.FAILED, outbox.MAX_ATTEMPTS)
    assert "421 4.7.0" in (row.last_error or "") and "too many errors" in (row.last_error or "")
    assert "not tried again automatically" in (row.last_error or "")
    assert copies(mail_server, reply.message_id) == []
