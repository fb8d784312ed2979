"""SMTP connections: SSL/TLS or STARTTLS, verified certificates, precise failures."""

from __future__ import annotations

import ipaddress
import smtplib
from dataclasses import dataclass

from app.domain.enums import Security
from app.mail.imap import ConnectionProblem, describe_network_error, tls_context


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security
    username: str
    password: str
    ca_file: str = ""
    timeout: float = 30.0


def _address_literal(smtp: smtplib.SMTP) -> str:
    """How this end of the connection names itself in EHLO: its address as an RFC 5321
    address literal, as mail clients do (no name lookup)."""
    try:
        address = ipaddress.ip_address(smtp.sock.getsockname()[0]) if smtp.sock else None
    except (OSError, ValueError):
        address = None
    if address is None:
        return "[127.0.0.1]"
    if address.version == 6:
        return f"[IPv6:{address.compressed}]"
    return f"[{address}]"


def connect(s: SmtpSettings) -> smtplib.SMTP:
    """A connected SMTP session, TLS up and logged in (when a username is set)."""
    context = tls_context(s.ca_file)
    # A local_hostname keeps smtplib from looking up this machine's name (socket.getfqdn),
    # which waits for the DNS timeout on machines whose name does not resolve.
    try:
        if s.security == Security.SSL:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, local_hostname="localhost", timeout=s.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, local_hostname="localhost", timeout=s.timeout)
        smtp.local_hostname = _address_literal(smtp)
        if s.security == Security.STARTTLS:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                smtp.close()
                raise ConnectionProblem(
                    "tls", f"The SMTP server {s.host}:{s.port} does not offer STARTTLS."
                )
            smtp.starttls(context=context)
            smtp.ehlo()
    except ConnectionProblem:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        raise describe_network_error(exc, s.host, s.port, "SMTP") from exc
    if s.username:
        try:
            smtp.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            detail = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise ConnectionProblem(
                "credentials", f"The SMTP server refused the login of {s.username!r}: {detail}"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise describe_network_error(exc, s.host, s.port, "SMTP") from exc
    return smtp
