"""Test connection: log in to IMAP and SMTP and say precisely what fails."""

from __future__ import annotations

from dataclasses import dataclass

from app.db.engine import Database
from app.mail import smtp
from app.mail.imap import ConnectionProblem, ImapSession, ImapSettings
from app.services.secrets import SecretStore

from .servers import imap_settings, smtp_settings


@dataclass
class CheckResult:
    imap_ok: bool
    imap_message: str
    smtp_ok: bool
    smtp_message: str

    @property
    def ok(self) -> bool:
        return self.imap_ok and self.smtp_ok


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
