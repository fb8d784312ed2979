"""Intake: store retrieved messages exactly once and route them, one transaction a batch.

A message is known by (channel, folder, UIDVALIDITY, UID). When a server resets
UIDVALIDITY, the same message comes back under new UIDs: then Message-ID plus the hash
of the raw bytes recognise it (and a message without a Message-ID by its hash alone).
The raw bytes are committed before the channel service touches the message on the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, selectinload

from app.db.engine import Database
from app.db.models import Channel, Email, EmailStatus, History, Organisation, utcnow
from app.mail.parse import Envelope, content_hash, html_to_text, read_body, read_envelope
from app.services.routing import CompiledFilter, compile_filters, needs_body, route

BATCH_SIZE = 200


@dataclass(frozen=True)
class Fetched:
    """One message as retrieved from the server."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes


@dataclass(frozen=True)
class Stored:
    uid: int
    email_id: int
    new: bool  # False: it was stored before (by UID, or by Message-ID and hash)
    campaign_id: int | None
    quarantined: bool


class Intake:
    """Stores and routes the messages of one channel."""

    def __init__(self, db: Database, channel_id: int) -> None:
        self.db = db
        self.channel_id = channel_id
        self.reload()

    def reload(self) -> None:
        """Read the channel's filters and settings again (after a configuration change)."""
        with self.db.session() as s:
            channel = s.scalars(
                select(Channel)
                .where(Channel.id == self.channel_id)
                .options(selectinload(Channel.filters))
            ).one()
            org = s.scalar(select(Organisation))
            self.channel_name = channel.name
            self.default_campaign_id = channel.default_campaign_id
            self.filters: list[CompiledFilter] = compile_filters(channel.filters)
            self.max_size = org.max_message_size if org else 25 * 1024 * 1024
        self.body_needed = needs_body(self.filters)

    def known_uids(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> set[int]:
        """Which of ``uids`` are stored already."""
        found: set[int] = set()
        with self.db.session() as s:
            for start in range(0, len(uids), 500):
                chunk = list(uids[start : start + 500])
                found.update(
                    s.scalars(
                        select(Email.uid).where(
                            Email.channel_id == self.channel_id,
                            Email.imap_folder == folder,
                            Email.uidvalidity == uidvalidity,
                            Email.uid.in_(chunk),
                        )
                    )
                )
        return found

    def store(
        self, messages: Sequence[Fetched], received_at: datetime | None = None
    ) -> list[Stored]:
        """Store and route ``messages`` in one transaction; already known ones are skipped."""
        if not messages:
            return []
        now = received_at or utcnow()
        results: list[Stored] = []
        with self.db.session() as s:
            by_identity = self._existing_by_uid(s, messages)
            prepared = []
            for m in messages:
                existing = by_identity.get((m.folder, m.uidvalidity, m.uid))
                if existing is not None:
                    results.append(Stored(m.uid, existing[0], False, existing[1], False))
                    continue
                prepared.append((m, read_envelope(m.raw), content_hash(m.raw)))
            by_content = self._existing_by_content(s, [(env, h) for _, env, h in prepared])
            new_rows: list[tuple[Fetched, Email, str]] = []
            for m, env, digest in prepared:
                twin = by_content.get((env.message_id, digest))
                if twin is not None:
                    # The same message under a new UIDVALIDITY: adopt the new identity.
                    twin.imap_folder, twin.uidvalidity, twin.uid = m.folder, m.uidvalidity, m.uid
                    results.append(Stored(m.uid, twin.id, False, twin.campaign_id, False))
                    continue
                email, route_note = self._build(m, env, digest, now)
                s.add(email)
                new_rows.append((m, email, route_note))
                by_content[(env.message_id, digest)] = email
            s.flush()
            for m, email, route_note in new_rows:
                s.add(
                    History(
                        email_id=email.id,
                        at=now,
                        action="arrived",
                        detail=f"Retrieved from {self.channel_name} ({m.folder}, UID {m.uid})",
                    )
                )
                s.add(
                    History(
                        email_id=email.id,
                        at=now,
                        action="quarantined"
                        if email.status == EmailStatus.QUARANTINED
                        else "routed",
                        detail=route_note,
                    )
                )
                results.append(
                    Stored(
                        m.uid,
                        email.id,
                        True,
                        email.campaign_id,
                        email.status == EmailStatus.QUARANTINED,
                    )
                )
        return results

    # ---- helpers ------------------------------------------------------------
    def _existing_by_uid(
        self, s: Session, messages: Sequence[Fetched]
    ) -> dict[tuple[str, int, int], tuple[int, int | None]]:
        keys = {(m.folder, m.uidvalidity, m.uid) for m in messages}
        rows = s.execute(
            select(
                Email.imap_folder, Email.uidvalidity, Email.uid, Email.id, Email.campaign_id
            ).where(
                Email.channel_id == self.channel_id,
                tuple_(Email.imap_folder, Email.uidvalidity, Email.uid).in_(list(keys)),
            )
        )
        return {(f or "", v or 0, u or 0): (i, c) for f, v, u, i, c in rows}

    def _existing_by_content(
        self, s: Session, items: list[tuple[Envelope, str]]
    ) -> dict[tuple[str | None, str], Email]:
        hashes = {digest for _, digest in items}
        if not hashes:
            return {}
        found = s.scalars(
            select(Email).where(Email.channel_id == self.channel_id, Email.content_hash.in_(hashes))
        )
        return {(e.message_id, e.content_hash or ""): e for e in found}

    def _build(self, m: Fetched, env: Envelope, digest: str, now: datetime) -> tuple[Email, str]:
        oversize = len(m.raw) > self.max_size
        body_text: str | None = None
        text = html = None
        problems = list(env.problems)
        if not oversize and self.body_needed:
            body = read_body(m.raw)
            text, html = body.text, body.html
            body_text = text if text is not None else (html_to_text(html) if html else "")
            problems += body.problems
        matched = route(self.filters, env, body_text)
        email = Email(
            channel_id=self.channel_id,
            status=EmailStatus.QUEUED,
            from_addr=env.from_display,
            reply_to=env.reply_to,
            to_addrs=", ".join(env.to),
            cc_addrs=", ".join(env.cc),
            subject=env.subject,
            message_id=env.message_id,
            in_reply_to=env.in_reply_to,
            references=" ".join(env.references) or None,
            received_at=now,
            queued_at=now,
            raw=m.raw,
            size=len(m.raw),
            text_body=text,
            html_body=html,
            imap_folder=m.folder,
            uidvalidity=m.uidvalidity,
            uid=m.uid,
            content_hash=digest,
            is_auto_reply=env.is_auto_reply,
            is_bounce=env.is_bounce,
            is_oversize=oversize,
        )
        if matched is not None:
            email.campaign_id = matched.campaign_id
            note = f"Routed by filter {matched.description}"
        elif self.default_campaign_id is not None:
            email.campaign_id = self.default_campaign_id
            note = "No filter matched: routed to the channel's default campaign"
        else:
            email.status = EmailStatus.QUARANTINED
            email.quarantine_reason = "No filter matched and the channel has no default campaign."
            note = email.quarantine_reason
        if oversize:
            note += f" (over the size limit of {self.max_size // (1024 * 1024)} MB: stored raw)"
        if problems:
            note += "; problems: " + "; ".join(dict.fromkeys(problems))
        return email, note
