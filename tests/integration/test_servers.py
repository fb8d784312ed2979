"""The server fixtures are real: TLS, authentication, delivery, IDLE, restarts, PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import secrets
import smtplib
import ssl
import time
from email.message import EmailMessage

import psycopg
import pytest
import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers.mail import Mailbox, MailServer
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.server


def message(sender: str, to: str, subject: str, body: str = "Hello\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@example.test>"
    msg.set_content(body)
    return msg


def wait_for_subject(
    server: MailServer, address: str, subject: str, timeout: float = 2.0
) -> tuple[EmailMessage, float]:
    """Poll the INBOX of ``address`` until a message with ``subject`` is there (and its age)."""
    start = time.monotonic()
    with server.imap(address) as client:
        while True:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["SUBJECT", subject])
            if uids:
                data = client.fetch(uids[-1:], ["RFC822"])[uids[-1]][b"RFC822"]
                parsed = email.message_from_bytes(data, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                return parsed, time.monotonic() - start
            if time.monotonic() - start > timeout:
                pytest.fail(f"no message {subject!r} for {address} after {timeout} s")
            time.sleep(0.05)


def subject() -> str:
    return f"test {secrets.token_hex(6)}"


# --- IMAP ------------------------------------------------------------------------------


def test_imaps_login_verifies_certificate_with_ca(
    mail_server: MailServer, mailbox: Mailbox
) -> None:
    context = ssl.create_default_context(cafile=str(mail_server.ca_file))
    for host in ("127.0.0.1", "localhost"):
        with IMAPClient(host, port=mail_server.imaps_port, ssl=True, ssl_context=context) as c:
            c.login(mailbox.address, mailbox.password)
            folders = {name for _flags, _sep, name in c.list_folders()}
            assert {"INBOX", "Sent", "Drafts", "Trash", "Junk"} <= folders
            special = {bytes(f) for flags, _sep, _name in c.list_folders() for f in flags}
            assert {b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk"} <= special
            assert b"IDLE" in c.capabilities()


def test_imaps_without_the_ca_fails_verification(mail_server: MailServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            mail_server.host,
            port=mail_server.imaps_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),  # system CAs only
            timeout=5,
        )


def test_wrong_password_is_refused_quickly(mail_server: MailServer, mailbox: Mailbox) -> None:
    start = time.monotonic()
    with pytest.raises(LoginError):
        mail_server.imap(mailbox.address, "wrong")
    assert time.monotonic() - start < 2


def test_starttls_on_the_plain_imap_port(mail_server: MailServer, mailbox: Mailbox) -> None:
    with IMAPClient(mail_server.host, port=mail_server.imap_port, ssl=False, timeout=5) as c:
        assert b"STARTTLS" in c.capabilities()
        c.starttls(mail_server.ssl_context())
        assert isinstance(c.socket(), ssl.SSLSocket)
        c.login(mailbox.address, mailbox.password)
        assert c.select_folder("INBOX")[b"EXISTS"] == 0


# --- SMTP ------------------------------------------------------------------------------


def test_smtp_starttls_auth_delivers_to_a_local_user(
    mail_server: MailServer, mailbox: Mailbox
) -> None:
    recipient = mail_server.new_mailbox("recipient")
    with smtplib.SMTP(mail_server.host, mail_server.smtp_port, "localhost", timeout=5) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")  # AUTH only over TLS
        smtp.starttls(context=mail_server.ssl_context())
        smtp.ehlo()
        assert {"PLAIN", "LOGIN"} <= set(smtp.esmtp_features["auth"].upper().split())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(mailbox.address, "wrong")
        smtp.login(mailbox.address, mailbox.password)
        title = subject()
        smtp.send_message(message(mailbox.address, recipient.address, title))
    received, waited = wait_for_subject(mail_server, recipient.address, title)
    assert received["From"] == mailbox.address
    assert waited < 2


def test_smtp_login_mechanism_and_unknown_local_user(
    mail_server: MailServer, mailbox: Mailbox
) -> None:
    with smtplib.SMTP(mail_server.host, mail_server.smtp_port, "localhost", timeout=5) as smtp:
        smtp.starttls(context=mail_server.ssl_context())
        smtp.user, smtp.password = mailbox.address, mailbox.password
        smtp.ehlo()
        code, _ = smtp.auth("LOGIN", smtp.auth_login)
        assert code == 235
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail(mailbox.address, ["nobody-here@example.test"], b"Subject: x\r\n\r\nx\r\n")
        assert refused.value.recipients["nobody-here@example.test"][0] == 550


def test_smtp_to_an_external_domain_is_captured(mail_server: MailServer, mailbox: Mailbox) -> None:
    title = subject()
    with mail_server.smtp(mailbox.address) as smtp:
        smtp.send_message(message(mailbox.address, "customer@example.com", title))
    received, _ = wait_for_subject(mail_server, mail_server.outbound, title)
    assert received["To"] == "customer@example.com"  # only the envelope was rewritten


def test_stop_smtp_refuses_connections_until_start_smtp(
    mail_server: MailServer, mailbox: Mailbox
) -> None:
    mail_server.stop_smtp()
    try:
        with pytest.raises(ConnectionRefusedError):
            smtplib.SMTP(mail_server.host, mail_server.smtp_port, "localhost", timeout=5)
    finally:
        mail_server.start_smtp()
    title = subject()
    with mail_server.smtp(mailbox.address) as smtp:
        smtp.send_message(message(mailbox.address, mailbox.address, title))
    wait_for_subject(mail_server, mailbox.address, title)


# --- LMTP, IDLE, restart -----------------------------------------------------------------


def test_lmtp_deliver(mail_server: MailServer, mailbox: Mailbox) -> None:
    title = subject()
    mail_server.deliver(
        mailbox.address,
        message("customer@example.com", mailbox.address, title, "Hi ✓\n").as_bytes(),
    )
    received, waited = wait_for_subject(mail_server, mailbox.address, title, timeout=0.5)
    assert waited < 0.5
    body = received.get_body()
    assert body is not None
    assert body.get_content().splitlines() == ["Hi ✓"]


def test_idle_reports_an_lmtp_delivery_within_2_seconds(
    mail_server: MailServer, mailbox: Mailbox
) -> None:
    with mail_server.imap(mailbox.address) as client:
        client.select_folder("INBOX")
        client.idle()
        start = time.monotonic()
        mail_server.deliver(
            mailbox.address, message("c@example.com", mailbox.address, "idle").as_bytes()
        )
        responses: list[tuple[int, bytes]] = []
        while not any(r[1] == b"EXISTS" for r in responses) and time.monotonic() - start < 2:
            responses += client.idle_check(timeout=max(0.05, 2 - (time.monotonic() - start)))
        elapsed = time.monotonic() - start
        client.idle_done()
    assert (1, b"EXISTS") in responses, responses
    assert elapsed < 2


def test_restart_imap_keeps_the_mail(mail_server: MailServer, mailbox: Mailbox) -> None:
    title = subject()
    mail_server.deliver(
        mailbox.address, message("c@example.com", mailbox.address, title).as_bytes()
    )
    client = mail_server.imap(mailbox.address)
    client.select_folder("INBOX")
    mail_server.restart_imap()
    with pytest.raises((OSError, IMAPClient.AbortError)):  # the old session is gone
        client.noop()
    client.shutdown()
    received, _ = wait_for_subject(mail_server, mailbox.address, title, timeout=0.5)
    assert received["Subject"] == title
    with mail_server.smtp(mailbox.address) as smtp:  # SMTP AUTH reconnects to dovecot
        smtp.send_message(message(mailbox.address, mailbox.address, title + " again"))
    wait_for_subject(mail_server, mailbox.address, title + " again")


def test_new_users_work_at_once_everywhere(mail_server: MailServer, mailbox: Mailbox) -> None:
    address = f"late-{secrets.token_hex(4)}@example.test"
    with pytest.raises(LoginError):  # unknown to dovecot so far ...
        mail_server.imap(address, "pw-1")
    with mail_server.smtp(mailbox.address) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused):
        smtp.sendmail(mailbox.address, [address], b"Subject: early\r\n\r\nx\r\n")  # ... and postfix
    mail_server.add_user(address, "pw-1")
    mail_server.imap(address, "pw-1").logout()
    for user in [
        mail_server.add_user(address, "pw-1"),
        *(mail_server.new_mailbox() for _ in range(3)),
    ]:
        title = subject()
        with mail_server.smtp(mailbox.address) as smtp:
            smtp.send_message(message(mailbox.address, user.address, title))
        wait_for_subject(mail_server, user.address, title)

    mail_server.add_user(address, "pw-2")  # a changed password counts at once, too
    mail_server.imap(address, "pw-2").logout()
    with pytest.raises(LoginError):
        mail_server.imap(address, "pw-1")


# --- PostgreSQL --------------------------------------------------------------------------


def test_postgres_connect(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.dsn) as conn:
        row = conn.execute("SELECT current_user, current_setting('fsync')").fetchone()
        version = conn.info.server_version
    assert row == ("app", "off")
    assert version >= 150000


def test_create_database_gives_an_empty_database(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    assert postgres_url.startswith("postgresql+psycopg://app:app@127.0.0.1:")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE t (id int PRIMARY KEY)"))
    finally:
        engine.dispose()


def test_postgres_restart_keeps_data(postgres_server: PostgresServer) -> None:
    name = f"restart_{secrets.token_hex(4)}"
    url = postgres_server.create_database(name)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (v text)"))
            conn.execute(sa.text("INSERT INTO t VALUES ('kept')"))
        engine.dispose()
        postgres_server.restart()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT v FROM t")).scalar_one() == "kept"
    finally:
        engine.dispose()
        postgres_server.drop_database(name)
