"""End to end, with real servers and the real GUI: a customer's email sent over SMTP to
Postfix → delivered into Dovecot → retrieved → routed by a filter → taken by an agent in
My Work → answered from a template, keyboard only → sent by the outbox → read back over IMAP
from the customer's own mailbox with the right threading headers, From and body."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import select, update

from app.channel_service.outbox import drain_outbox
from app.channel_service.sync import sync_channel
from app.db.models import Campaign, Channel, Email, EmailStatus, History, Reply, ReplyState
from app.services.auth import SYSTEM
from app.services.channels import ChannelData, ChannelService, FilterData
from app.services.secrets import KeyringStore
from app.ui.my_work import MyWorkScreen
from tests.conftest import actor_of
from tests.ui.keyboard import show_active, type_text
from tests.waiting import wait_for
from tests.work_data import campaign_id

pytestmark = pytest.mark.server
CTRL = Qt.KeyboardModifier.ControlModifier


def press(qtbot, key: Qt.Key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    focused = QApplication.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, key, modifiers)


def test_customer_email_to_answer_read_back_by_the_customer(  # type: ignore[no-untyped-def]
    qtbot, demo_db, mail_server, make_ctx, secrets: KeyringStore, answers
):
    support = mail_server.new_mailbox("support")
    customer = mail_server.new_mailbox("customer")
    channels = ChannelService(demo_db, SYSTEM, secrets)
    channel = channels.create_channel(
        ChannelData(
            name="Live support",
            email_address=support.address,
            display_name="Example Retail Support",
            default_campaign_id=campaign_id(demo_db, "General Enquiries"),
            enabled=True,
            imap_host="127.0.0.1",
            imap_port=mail_server.imaps_port,
            imap_username=support.address,
            ca_file=str(mail_server.ca_file),
            smtp_host="127.0.0.1",
            smtp_port=mail_server.smtp_port,
            smtp_username=support.address,
        )
    )
    channels.set_password(channel.id, "inbound", support.password)
    channels.set_password(channel.id, "outbound", support.password)
    # A Body filter routes parcel questions to Orders; Orders replies go out through this
    # channel.
    channels.add_filter(
        channel.id, FilterData("body", "contains", "PARCEL", campaign_id(demo_db, "Orders"))
    )
    with demo_db.session() as s:
        s.execute(update(Campaign).where(Campaign.title == "Orders").values(channel_id=channel.id))

    # 1. The customer writes, through Postfix.
    question = EmailMessage(policy=policy.SMTP)
    question["From"] = f"Zoë Adams <{customer.address}>"
    question["To"] = support.address
    question["Subject"] = "Wo ist mein Paket? – Größe 42"
    question["Message-ID"] = "<question-e2e@customers.example>"
    question["References"] = "<earlier-e2e@customers.example>"
    question.set_content("Hello, my parcel with order 4711 has not arrived. Where is it?\n")
    smtp = mail_server.smtp(customer.address)
    try:
        smtp.send_message(question)
    finally:
        smtp.quit()

    # 2. Retrieval (the channel service's pass) stores it once and routes it by the filter.
    def stored() -> int | None:
        sync_channel(demo_db, channel.id, secrets)
        with demo_db.session() as s:
            return s.scalar(
                select(Email.id).where(Email.message_id == "<question-e2e@customers.example>")
            )

    email_id = wait_for(stored, 30, interval=0.1)
    assert email_id is not None, mail_server.log_tail()
    with demo_db.session() as s:
        stored_email = s.get_one(Email, email_id)
        assert stored_email.campaign_id == campaign_id(demo_db, "Orders")
        assert stored_email.status == EmailStatus.QUEUED
        routed = s.scalar(
            select(History.detail).where(History.email_id == email_id, History.action == "routed")
        )
    assert routed is not None and "Body contains 'PARCEL'" in routed

    # 3. Alice takes it in My Work and answers from a template, without the mouse.
    screen = show_active(qtbot, MyWorkScreen(make_ctx(demo_db, actor_of(demo_db, "alice"))))
    press(qtbot, Qt.Key.Key_N, CTRL)  # Take next
    assert screen.editor.email_id == email_id
    assert screen.editor.to_edit.text() == f"Zoë Adams <{customer.address}>"
    assert QApplication.focusWidget() is screen.editor.template_combo  # free-format is off
    combo = screen.editor.template_combo
    while combo.currentText() != "Order status":
        press(qtbot, Qt.Key.Key_Down)
    assert screen.editor.subject_edit.text() == "Re: Wo ist mein Paket? – Größe 42"
    for _ in range(5):  # To, Cc, Bcc, Subject, the message
        press(qtbot, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is screen.editor.body_edit
    press(qtbot, Qt.Key.Key_End, CTRL)
    type_text(qtbot, screen.editor.body_edit, "\nPS: Tracking number 4711-Ü.")
    expected_body = screen.editor.body_edit.toPlainText()
    assert expected_body.startswith("Dear Zoë Adams,")
    press(qtbot, Qt.Key.Key_Return, CTRL)  # Send
    assert answers[0] == []  # nothing to confirm: the address is valid
    with demo_db.session() as s:
        reply = s.scalars(select(Reply).where(Reply.email_id == email_id)).one()
        assert reply.state == ReplyState.QUEUED
        message_id = reply.message_id
        assert s.get_one(Email, email_id).status == EmailStatus.ACTIONED

    # 4. The outbox sends it through Postfix.
    report = drain_outbox(demo_db, secrets)
    assert report.sent == 1, report.summary()

    # 5. The customer reads it from their own mailbox.
    def delivered() -> bytes | None:
        client = mail_server.imap(customer.address)
        try:
            client.select_folder("INBOX")
            uids = client.search(["HEADER", "Message-ID", message_id])
            if not uids:
                return None
            return bytes(client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"])
        finally:
            client.logout()

    raw = wait_for(delivered, 30, interval=0.1)
    assert raw is not None, mail_server.log_tail()
    received = email.message_from_bytes(raw, policy=policy.default)
    assert received["In-Reply-To"] == "<question-e2e@customers.example>"
    assert received["References"].split() == [
        "<earlier-e2e@customers.example>",
        "<question-e2e@customers.example>",
    ]
    assert received["From"].addresses[0].addr_spec == support.address
    assert received["From"].addresses[0].display_name == "Example Retail Support"
    assert str(received["Subject"]) == "Re: Wo ist mein Paket? – Größe 42"
    body = received.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n").rstrip("\n") == expected_body.rstrip("\n")
    with demo_db.session() as s:
        assert s.get_one(Email, email_id).first_reply_at is not None
        assert s.scalar(select(Channel.name).where(Channel.id == channel.id)) == "Live support"
