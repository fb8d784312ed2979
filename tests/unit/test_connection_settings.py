"""A channel's IMAP and SMTP settings come from one function, whatever they are made from:
a stored channel and its kept passwords, the channel dialog's typed values, the row
``channel sync`` reads early without SQLAlchemy."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
from sqlalchemy import select

from app.channel_service import early
from app.channel_service.servers import connection_settings, imap_settings, smtp_settings
from app.db.engine import Database
from app.db.models import Channel, Security
from app.mail.imap import ConnectionProblem, ImapSettings
from app.mail.smtp import SmtpSettings
from app.services.auth import SYSTEM
from app.services.channels import ChannelData, ChannelService
from app.services.secrets import KeyringStore


def support(db: Database) -> tuple[int, ChannelData]:
    with db.session() as s:
        channel = s.scalars(select(Channel).where(Channel.name == "Support mailbox")).one()
        data = ChannelData(**{f.name: getattr(channel, f.name) for f in fields(ChannelData)})
        return channel.id, data


def test_a_stored_channel_and_its_dialog_give_the_same_settings(
    demo_db: Database, secrets: KeyringStore
) -> None:
    channel_id, data = support(demo_db)
    with pytest.raises(ConnectionProblem, match="No IMAP password"):
        imap_settings(demo_db, channel_id, secrets)
    with pytest.raises(ConnectionProblem, match="No SMTP password"):
        smtp_settings(demo_db, channel_id, secrets)
    channels = ChannelService(demo_db, SYSTEM, secrets)
    channels.set_password(channel_id, "inbound", "imap-secret")
    channels.set_password(channel_id, "outbound", "smtp-secret")
    typed = connection_settings(
        data, inbound_password="imap-secret", outbound_password="smtp-secret"
    )
    assert imap_settings(demo_db, channel_id, secrets) == typed.imap
    assert smtp_settings(demo_db, channel_id, secrets) == typed.smtp
    assert typed.imap == ImapSettings(
        "imap.example.com", 993, Security.SSL, "support@example.com", "imap-secret", "INBOX"
    )
    assert typed.smtp == SmtpSettings(
        "smtp.example.com", 587, Security.STARTTLS, "support@example.com", "smtp-secret"
    )


def test_typed_values_are_read_as_they_are_saved() -> None:
    typed = ChannelData(
        name="Typed",
        email_address="a@example.com",
        imap_host=" imap.example.com ",
        imap_port=" 143 ",
        imap_security="starttls",
        imap_username=" a@example.com",
        imap_folder="  ",
        smtp_host="smtp.example.com ",
        smtp_port="25",
        smtp_security="none",
        smtp_username="",
        ca_file=" /etc/ssl/ca.pem ",
    )
    imap, smtp = connection_settings(typed, timeout=15)
    assert imap == ImapSettings(
        "imap.example.com", 143, Security.STARTTLS, "a@example.com", "", "INBOX",
        "/etc/ssl/ca.pem", 15,
    )  # fmt: skip
    assert smtp == SmtpSettings(
        "smtp.example.com", 25, Security.NONE, "", "", "/etc/ssl/ca.pem", 15
    )
    with pytest.raises(ValueError):
        connection_settings(replace(typed, imap_port="imap"))


@pytest.mark.sqlite_only
def test_the_early_reading_gives_the_usual_settings(
    demo_db: Database, secrets: KeyringStore
) -> None:
    channel_id, _data = support(demo_db)
    ChannelService(demo_db, SYSTEM, secrets).set_password(channel_id, "inbound", "imap-secret")
    assert early._read_settings(demo_db.url, "Support mailbox") == imap_settings(
        demo_db, channel_id, secrets
    )
    assert early._read_settings(demo_db.url, "No such channel") is None
