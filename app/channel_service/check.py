"""Test connection: log in to IMAP and SMTP and say precisely what fails."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Channel, Organisation
from app.mail import smtp
from app.mail.imap import ConnectionProblem, ImapSession, ImapSettings
from app.services.secrets import SecretStore, channel_key

from .sync import imap_settings


@dataclass
class CheckResult:
    imap_ok: bool
    imap_message: str
    smtp_ok: bool
    smtp_message: str

    @property
    def ok(self) -> bool:
        return self.imap_ok and self.smtp_ok


def smtp_settings(db: Database, channel_id: int, secrets: SecretStore | None) -> smtp.SmtpSettings:
    with db.session() as s:
        channel = s.get_one(Channel, channel_id)
        org = s.scalar(select(Organisation))
        key = channel_key(org.installation_id if org else "", channel.uuid, "outbound")
        settings = smtp.SmtpSettings(
            channel.smtp_host,
            channel.smtp_port,
            channel.smtp_security,
            channel.smtp_username,
            "",
            channel.ca_file,
        )
    password = (secrets.get(key) if secrets is not None else None) or ""
    if settings.username and not password:
        raise ConnectionProblem("credentials", "No SMTP password is stored for this channel.")
    return smtp.SmtpSettings(**{**settings.__dict__, "password": password})


def check_settings(imap: ImapSettings, smtp_config: smtp.SmtpSettings) -> CheckResult:
    """Log in to both servers with these settings; each failure named precisely."""
    try:
        session = ImapSession(imap)
        count = len(session.uids())
        session.close()
        imap_ok, imap_message = True, f"IMAP: logged in; {count} message(s) in {imap.folder}."
    except ConnectionProblem as exc:
        imap_ok, imap_message = False, f"IMAP: {exc}"
    try:
        connection = smtp.connect(smtp_config)
        connection.quit()
        smtp_ok, smtp_message = True, "SMTP: connected and logged in."
    except ConnectionProblem as exc:
        smtp_ok, smtp_message = False, f"SMTP: {exc}"
    return CheckResult(imap_ok, imap_message, smtp_ok, smtp_message)


def check_channel(db: Database, channel_id: int, secrets: SecretStore | None) -> CheckResult:
    """Test a saved channel with its stored passwords."""
    failures = []
    try:
        imap = imap_settings(db, channel_id, secrets)
    except ConnectionProblem as exc:
        failures.append(("imap", str(exc)))
    try:
        smtp_config = smtp_settings(db, channel_id, secrets)
    except ConnectionProblem as exc:
        failures.append(("smtp", str(exc)))
    if failures:
        found = dict(failures)
        return CheckResult(
            "imap" not in found,
            f"IMAP: {found.get('imap', 'not tested')}",
            "smtp" not in found,
            f"SMTP: {found.get('smtp', 'not tested')}",
        )
    return check_settings(imap, smtp_config)
