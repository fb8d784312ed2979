"""Intake: store retrieved messages exactly once and route them, one transaction a batch.

A message is known by (channel, folder, UIDVALIDITY, UID): the email's rows in
``email_uids``. A message under a UID not known yet is recognised by its Message-ID plus
the hash of its raw bytes (by the hash alone when it has no Message-ID), and its UID is
added to the email's:

- the same message delivered twice (byte for byte: a second copy in the mailbox) is one
  email, answered once, known under both UIDs, so that no pass fetches either again; the
  second copy's arrival is noted in the History;
- when a server resets UIDVALIDITY (or the channel's folder changes), the same messages
  come back under new UIDs: as many copies as the email had in one place before are that
  email found again, not noted; only more than that are new copies.

Messages with the same Message-ID and other bytes are separate emails. The raw bytes are
committed before the channel service touches the message on the server.

Only what storing and routing need is parsed: the header block, and for a Body filter the
text and HTML parts. Attachments are listed when the email is first shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session, selectinload

from app.db import hotpath
from app.db.engine import Database
from app.db.models import (
    Channel,
    Email,
    EmailStatus,
    EmailUid,
    Organisation,
    utcnow,
)
from app.mail.parse import (
    Envelope,
    Headers,
    content_hash,
    read_envelope,
    read_texts,
    routing_text,
)
from app.services.history import Entry, write_history
from app.services.routing import (
    REGEX_FILTER_SECONDS,
    CompiledFilter,
    compile_filters,
    needs_body,
    route,
)

BATCH_SIZE = 200
_EMAILS = cast(Table, Email.__table__)
_UIDS = cast(Table, EmailUid.__table__)


@dataclass(frozen=True)
class Fetched:
    """One message as retrieved from the server."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes


@dataclass(frozen=True)
class Analysed:
    """One message read for storing, without the database: its identity (Message-ID and
    hash) and the email's columns that depend on the message alone, routed. Made by
    ``Intake.analyse``, which may run in another process (it only reads ``raw``)."""

    message_id: str | None
    digest: str
    columns: dict[str, object]
    note: str
    # the filters given up on this message: they took too long (their descriptions)
    timed_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stored:
    uid: int
    email_id: int
    new: bool  # False: it was stored before (by UID, or by Message-ID and hash)
    campaign_id: int | None
    quarantined: bool
    copy: bool = False  # a second (third…) copy of an email: the same bytes delivered again
    timed_out: tuple[str, ...] = ()  # filters given up on this new email (too slow)


# Column sizes (PostgreSQL enforces them) and NUL characters (PostgreSQL refuses them in
# text): a header that breaks either must not stop the message, or the ones after it.
_HEADER_LIMITS = {"from_display": 1000, "reply_to": 1000, "message_id": 1000, "in_reply_to": 1000}


def _without_nul(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd") if text is not None and "\x00" in text else text


def storable(env: Envelope) -> Envelope:
    """``env`` made safe to store on any database; what was changed is noted in problems."""
    fields = vars(env)
    for name, value in list(fields.items()):
        if isinstance(value, str):
            if "\x00" in value:
                value = fields[name] = value.replace("\x00", "\ufffd")
                env.problems.append(f"NUL characters in {name} replaced")
            limit = _HEADER_LIMITS.get(name)
            if limit is not None and len(value) > limit:
                env.problems.append(f"{name} shortened to {limit} characters")
                fields[name] = value[:limit]
        elif (
            isinstance(value, list)
            and name != "problems"
            and any(isinstance(v, str) and "\x00" in v for v in value)
        ):
            fields[name] = [_without_nul(v) if isinstance(v, str) else v for v in value]
    return env


def _found_again_is_copy(places: Counter[tuple[str, int]], m: Fetched) -> bool:
    """Whether ``m``, a stored email's message under a UID not known yet, is another copy
    of it (the same bytes delivered again), rather than it found again in a new place (a new
    UIDVALIDITY, another folder); ``places``: the email's UIDs by (folder, UIDVALIDITY),
    counted on with ``m``. An email had as many copies before as in any one place."""
    here = (m.folder, m.uidvalidity)
    before = max((n for place, n in places.items() if place != here), default=0)
    copy = places[here] >= before
    places[here] += 1
    return copy


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
                        select(EmailUid.uid).where(
                            EmailUid.channel_id == self.channel_id,
                            EmailUid.folder == folder,
                            EmailUid.uidvalidity == uidvalidity,
                            EmailUid.uid.in_(chunk),
                        )
                    )
                )
        return found

    def analyse(self, m: Fetched) -> Analysed:
        """Parse, hash and route ``m``: everything storing needs but the database."""
        headers = Headers(m.raw)
        env = storable(read_envelope(m.raw, headers))
        digest = content_hash(m.raw)
        columns, note, timed_out = self._columns(m, headers, env, digest)
        return Analysed(env.message_id, digest, columns, note, timed_out)

    def store(
        self,
        messages: Sequence[Fetched],
        received_at: datetime | None = None,
        analysed: Sequence[Analysed | None] | None = None,
    ) -> list[Stored]:
        """Store and route ``messages`` in one transaction; already known ones are skipped,
        copies of stored emails are added to them (their UIDs, a History note).

        ``analysed``: what ``analyse`` gave for each message, where it was run already
        (None where not). New emails, their UIDs and their history are inserted in bulk
        (three statements a batch): the per-object work of the ORM would cost more than
        reading the mail."""
        if not messages:
            return []
        now = received_at or utcnow()
        results: list[Stored | None] = [None] * len(messages)
        # The server deletes, marks or moves these messages once this commit returns: it
        # must survive a power cut, not only a crash.
        with self.db.session(durable=True) as s:
            by_identity = self._existing_by_uid(s, messages)
            prepared: list[tuple[int, Fetched, Analysed]] = []
            for i, m in enumerate(messages):
                existing = by_identity.get((m.folder, m.uidvalidity, m.uid))
                if existing is not None:
                    results[i] = Stored(m.uid, existing[0], False, existing[1], False)
                    continue
                done = analysed[i] if analysed is not None else None
                prepared.append((i, m, done if done is not None else self.analyse(m)))
            keys = {(a.message_id, a.digest) for _, _, a in prepared}
            by_content = self._existing_by_content(s, keys)
            # (a query only when a message is a stored one under a new UID: a copy, or a
            # new UIDVALIDITY)
            places = self._places(s, {by_content[k][0] for k in keys if k in by_content})
            rows: list[dict[str, object]] = []
            notes: list[str] = []
            slow: list[tuple[str, ...]] = []  # each new row's filters given up (too slow)
            positions: list[list[int]] = []  # the messages each new row stands for
            in_batch: dict[tuple[str | None, str], int] = {}
            uids: list[dict[str, object]] = []  # email_uids rows: every UID new here
            history: list[Entry] = []
            last_found: dict[int, Fetched] = {}  # stored emails found under a new UID
            for i, m, a in prepared:
                key = (a.message_id, a.digest)
                twin = by_content.get(key)
                if twin is not None:
                    twin_id, twin_campaign = twin
                    copy = _found_again_is_copy(places[twin_id], m)
                    uids.append(self._uid_row(twin_id, m))
                    last_found[twin_id] = m
                    if copy:
                        history.append(
                            Entry(
                                twin_id,
                                "arrived again",
                                f"A copy (the same bytes) retrieved from {self.channel_name} "
                                f"({m.folder}, UID {m.uid}): kept as this one email",
                                now,
                            )
                        )
                    results[i] = Stored(m.uid, twin_id, False, twin_campaign, False, copy)
                    continue
                if key in in_batch:  # copies in this batch: one email, last found as the later
                    row = rows[in_batch[key]]
                    row.update(imap_folder=m.folder, uidvalidity=m.uidvalidity, uid=m.uid)
                    positions[in_batch[key]].append(i)
                    continue
                row = {
                    **a.columns,
                    "received_at": now,
                    "queued_at": now,
                    "raw": m.raw,
                    "imap_folder": m.folder,
                    "uidvalidity": m.uidvalidity,
                    "uid": m.uid,
                }
                in_batch[key] = len(rows)
                rows.append(row)
                notes.append(a.note)
                slow.append(a.timed_out)
                positions.append([i])
            conn = s.connection()
            for email_id, m in last_found.items():
                conn.execute(
                    update(_EMAILS)
                    .where(_EMAILS.c.id == email_id)
                    .values(imap_folder=m.folder, uidvalidity=m.uidvalidity, uid=m.uid)
                )
            if rows:
                # in bulk (app/db/hotpath/bulk.py): no ORM bookkeeping per row
                ids = hotpath.insert_returning_ids(conn, _EMAILS, rows)
                for email_id, row, note, where, timed_out in zip(
                    ids, rows, notes, positions, slow, strict=True
                ):
                    quarantined = row["status"] == EmailStatus.QUARANTINED
                    first = messages[where[0]]
                    detail = f"Retrieved from {self.channel_name} ({first.folder}, UID {first.uid})"
                    if len(where) > 1:
                        detail += "; arrived again as a copy (the same bytes): UID " + ", ".join(
                            str(messages[i].uid) for i in where[1:]
                        )
                    history.append(Entry(email_id, "arrived", detail, now))
                    action = "quarantined" if quarantined else "routed"
                    history.append(Entry(email_id, action, note, now))
                    campaign = row["campaign_id"]
                    assert campaign is None or isinstance(campaign, int)
                    for n, i in enumerate(where):
                        uids.append(self._uid_row(email_id, messages[i]))
                        results[i] = Stored(
                            messages[i].uid,
                            email_id,
                            n == 0,
                            campaign,
                            quarantined,
                            n > 0,
                            timed_out if n == 0 else (),
                        )
            hotpath.insert_rows(conn, _UIDS, uids)
            write_history(conn, history)
        return [r for r in results if r is not None]

    # ---- helpers ------------------------------------------------------------
    def _existing_by_uid(
        self, s: Session, messages: Sequence[Fetched]
    ) -> dict[tuple[str, int, int], tuple[int, int | None]]:
        # by folder and UIDVALIDITY (one of each, as a rule), so that the UID index is used
        by_folder: dict[tuple[str, int], list[int]] = {}
        for m in messages:
            by_folder.setdefault((m.folder, m.uidvalidity), []).append(m.uid)
        found: dict[tuple[str, int, int], tuple[int, int | None]] = {}
        for (folder, uidvalidity), uids in by_folder.items():
            for start in range(0, len(uids), 500):
                rows = s.execute(
                    select(EmailUid.uid, Email.id, Email.campaign_id)
                    .join(Email, Email.id == EmailUid.email_id)
                    .where(
                        EmailUid.channel_id == self.channel_id,
                        EmailUid.folder == folder,
                        EmailUid.uidvalidity == uidvalidity,
                        EmailUid.uid.in_(uids[start : start + 500]),
                    )
                )
                found.update(((folder, uidvalidity, u), (i, c)) for u, i, c in rows)
        return found

    def _uid_row(self, email_id: int, m: Fetched) -> dict[str, object]:
        return {
            "channel_id": self.channel_id,
            "folder": m.folder,
            "uidvalidity": m.uidvalidity,
            "uid": m.uid,
            "email_id": email_id,
        }

    def _places(self, s: Session, email_ids: Iterable[int]) -> dict[int, Counter[tuple[str, int]]]:
        """How many UIDs each of ``email_ids`` is known under, by (folder, UIDVALIDITY)."""
        found: dict[int, Counter[tuple[str, int]]] = {i: Counter() for i in email_ids}
        ids = sorted(found)
        for start in range(0, len(ids), 500):
            for email_id, folder, uidvalidity, n in s.execute(
                select(EmailUid.email_id, EmailUid.folder, EmailUid.uidvalidity, func.count())
                .where(
                    EmailUid.channel_id == self.channel_id,
                    EmailUid.email_id.in_(ids[start : start + 500]),
                )
                .group_by(EmailUid.email_id, EmailUid.folder, EmailUid.uidvalidity)
            ):
                found[email_id][(folder, uidvalidity)] = n
        return found

    def _existing_by_content(
        self, s: Session, keys: set[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], tuple[int, int | None]]:
        """Stored emails of this channel with the same Message-ID (or none) and hash, by
        (Message-ID, hash); looked up by the indexed Message-ID, not by scanning hashes."""
        found: dict[tuple[str | None, str], tuple[int, int | None]] = {}
        ids = sorted({mid for mid, _ in keys if mid is not None})
        no_id = sorted({digest for mid, digest in keys if mid is None})
        columns = (Email.message_id, Email.content_hash, Email.id, Email.campaign_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found.update(
                ((mid, digest or ""), (i, c))
                for mid, digest, i, c in s.execute(
                    select(*columns).where(
                        Email.channel_id == self.channel_id, Email.message_id.in_(chunk)
                    )
                )
            )
        for start in range(0, len(no_id), 500):
            chunk = no_id[start : start + 500]
            found.update(
                ((None, digest or ""), (i, c))
                for _, digest, i, c in s.execute(
                    select(*columns).where(
                        Email.channel_id == self.channel_id,
                        Email.message_id.is_(None),
                        Email.content_hash.in_(chunk),
                    )
                )
            )
        return found

    def _columns(
        self, m: Fetched, headers: Headers, env: Envelope, digest: str
    ) -> tuple[dict[str, object], str, tuple[str, ...]]:
        """The new email's columns that depend on the message, routed, the note of how it
        was routed, and the filters given up on it (too slow)."""
        oversize = len(m.raw) > self.max_size
        body_text: str | None = None
        text = html = None
        problems = list(env.problems)
        if not oversize and self.body_needed:
            # Only the text and HTML parts are decoded; the attachments are listed when
            # the email is first shown.
            text, html, body_problems = read_texts(m.raw, headers)
            text, html = _without_nul(text), _without_nul(html)
            body_text = routing_text(text, html)
            problems += body_problems
        routing = route(self.filters, env, body_text)
        matched = routing.matched
        timed_out = tuple(f.description for f in routing.timed_out)
        row: dict[str, object] = {
            "channel_id": self.channel_id,
            "campaign_id": None,
            "status": EmailStatus.QUEUED,
            "from_addr": env.from_display,
            "reply_to": env.reply_to,
            "to_addrs": ", ".join(env.to),
            "cc_addrs": ", ".join(env.cc),
            "subject": env.subject,
            "message_id": env.message_id,
            "in_reply_to": env.in_reply_to,
            "references": " ".join(env.references) or None,
            "size": len(m.raw),
            "text_body": text,
            "html_body": html,
            "content_hash": digest,
            "is_auto_reply": env.is_auto_reply,
            "is_bounce": env.is_bounce,
            "is_oversize": oversize,
            "quarantine_reason": None,
        }
        if matched is not None:
            row["campaign_id"] = matched.campaign_id
            note = f"Routed by filter {matched.description}"
        elif self.default_campaign_id is not None:
            row["campaign_id"] = self.default_campaign_id
            note = "No filter matched: routed to the channel's default campaign"
        else:
            row["status"] = EmailStatus.QUARANTINED
            reason = "No filter matched and the channel has no default campaign."
            row["quarantine_reason"] = reason
            note = reason
        if timed_out:
            # (the email went on to the next filter: the one that matched, or the default)
            which = "filter " if len(timed_out) == 1 else "filters "
            note += (
                f"; {which}{', '.join(timed_out)} skipped: the regular expression took "
                f"longer than {REGEX_FILTER_SECONDS:g} s on this email"
            )
        if oversize:
            note += f" (over the size limit of {self.max_size // (1024 * 1024)} MB: stored raw)"
        if problems:
            note += "; problems: " + "; ".join(dict.fromkeys(problems))
        return row, note, timed_out
