"""Connecting to SMTP never looks up this machine's name (a fresh machine whose name does
not resolve waited for the DNS timeout on every connection)."""

from __future__ import annotations

import socket

import pytest

from app.db.models import Security
from app.mail import smtp
from tests.servers.mail import Mailbox, MailServer

pytestmark = pytest.mark.server


@pytest.mark.parametrize("security", [Security.STARTTLS, Security.NONE])
def test_ehlo_names_the_connection_by_its_address(
    mail_server: MailServer, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, security: Security
) -> None:
    def no_lookup(*_args: object) -> str:
        raise AssertionError("looked up this machine's name")

    monkeypatch.setattr(socket, "getfqdn", no_lookup)
    monkeypatch.setattr(socket, "gethostbyaddr", no_lookup)
    settings = smtp.SmtpSettings(
        host="127.0.0.1",
        port=mail_server.smtp_port,
        security=security,
        # postfix offers AUTH only after STARTTLS (and relays for 127.0.0.1 without it)
        username=mailbox.address if security == Security.STARTTLS else "",
        password=mailbox.password,
        ca_file=str(mail_server.ca_file),
        timeout=10,
    )
    client = smtp.connect(settings)
    try:
        assert client.local_hostname == "[127.0.0.1]"
        code, _ = client.noop()
        assert code == 250
    finally:
        client.quit()
