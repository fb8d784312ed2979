"""Email channels (mailbox settings) and their routing filters."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from typing import TypeVar

import regex
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.db.models import (
    AfterRetrieval,
    Campaign,
    Channel,
    Filter,
    FilterField,
    FilterMatch,
    Organisation,
    Security,
)
from app.services import validation as v
from app.services.auth import Permission
from app.services.base import Service, check_version, ensure_unique, get_or_404
from app.services.errors import ValidationError
from app.services.records import CampaignRef, ChannelRecord, FilterRecord
from app.services.routing import REGEX_FILTER_SECONDS, compile_pattern
from app.services.secrets import SecretStore, channel_key

NAME = "Channel Name"
ADDRESS = "Email Address"
DISPLAY = "Display Name"

E = TypeVar("E", bound=enum.Enum)
DEFAULT_CAMPAIGN = "Default Campaign"
MAX_RECIPIENTS = "Max Recipients per Reply"
MAX_RECIPIENTS_LIMIT = 10000  # far above any mail server's own limit


@dataclass
class ChannelData:
    name: str
    email_address: str
    display_name: str = ""
    default_campaign_id: int | None = None
    enabled: bool = False
    imap_host: str = ""
    imap_port: int | str = 993
    imap_security: Security | str = Security.SSL
    imap_username: str = ""
    imap_folder: str = "INBOX"
    after_retrieval: AfterRetrieval | str = AfterRetrieval.DELETE
    move_folder: str = ""
    check_interval: int | str = 60
    allow_insecure: bool = False
    ca_file: str = ""
    smtp_host: str = ""
    smtp_port: int | str = 587
    smtp_security: Security | str = Security.STARTTLS
    smtp_username: str = ""
    save_sent_copy: bool = False
    sent_folder: str = "Sent"
    max_recipients: int | str = 100


@dataclass
class FilterData:
    field: FilterField | str
    match: FilterMatch | str
    keyword: str
    campaign_id: int | None
    enabled: bool = True


def filter_record(f: Filter) -> FilterRecord:
    """(its campaign loaded, or loadable in its session)"""
    return FilterRecord(
        id=f.id,
        channel_id=f.channel_id,
        priority=f.priority,
        field=f.field,
        match=f.match,
        keyword=f.keyword,
        campaign=CampaignRef(f.campaign.id, f.campaign.title),
        enabled=f.enabled,
    )


def channel_record(c: Channel) -> ChannelRecord:
    """(its default campaign and filters loaded, or loadable in its session)"""
    default = c.default_campaign
    return ChannelRecord(
        id=c.id,
        name=c.name,
        email_address=c.email_address,
        display_name=c.display_name,
        default_campaign=CampaignRef(default.id, default.title) if default else None,
        enabled=c.enabled,
        imap_host=c.imap_host,
        imap_port=c.imap_port,
        imap_security=c.imap_security,
        imap_username=c.imap_username,
        imap_folder=c.imap_folder,
        after_retrieval=c.after_retrieval,
        move_folder=c.move_folder,
        check_interval=c.check_interval,
        allow_insecure=c.allow_insecure,
        ca_file=c.ca_file,
        smtp_host=c.smtp_host,
        smtp_port=c.smtp_port,
        smtp_security=c.smtp_security,
        smtp_username=c.smtp_username,
        save_sent_copy=c.save_sent_copy,
        sent_folder=c.sent_folder,
        max_recipients=c.max_recipients,
        version=c.version,
        filters=tuple(
            filter_record(f) for f in sorted(c.filters, key=lambda f: (f.priority, f.id))
        ),
    )


# a channel's default campaign and filters (with their campaigns), loaded with it
_RELATED = (
    selectinload(Channel.filters).selectinload(Filter.campaign),
    selectinload(Channel.default_campaign),
)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _choice(field: str, enum_type: type[E], value: object) -> E:
    try:
        return enum_type(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in enum_type)
        raise ValidationError(field, f"'{value}' is not one of: {allowed}.") from exc


def _probes(keyword: str) -> list[str]:
    """Short texts that make a backtracking pattern show itself: a run of one of its
    letters (or of 'a', or spaces) that ends in a character it does not expect."""
    letters = dict.fromkeys(ch for ch in keyword if ch.isalnum())
    return [ch * 41 + end for ch in ("a", " ", *list(letters)[:12]) for end in ("!", "")]


def check_pattern(field: str, keyword: str) -> str:
    """A regular expression routing can run: valid for the engine routing uses, and not
    one that takes longer than routing allows on a short text (catastrophic backtracking,
    e.g. ``^(a|aa)+$`` on forty 'a's and a '!'). Patterns that are merely unusual pass."""
    try:
        pattern = compile_pattern(keyword)
    except (regex.error, ValueError, OverflowError) as exc:
        raise ValidationError(field, f"is not a valid regular expression: {exc}.") from exc
    for text in _probes(keyword):
        try:
            pattern.search(text, timeout=REGEX_FILTER_SECONDS)
        except TimeoutError:
            shown = text if len(text) < 12 else f"{text[:6]}…{text[-2:]} ({len(text)} characters)"
            raise ValidationError(
                field,
                f"takes longer than {REGEX_FILTER_SECONDS:g} s on the text '{shown}' (the "
                "pattern backtracks without end, typically through a repetition inside a "
                "repetition such as (a|aa)+); rewrite it, e.g. without the inner repetition.",
            ) from None
    return keyword


def validate_filter(data: FilterData) -> tuple[FilterField, FilterMatch, str]:
    field = _choice("Field", FilterField, data.field)
    match = _choice("Match", FilterMatch, data.match)
    keyword = (data.keyword or "").strip() if match != FilterMatch.REGEX else (data.keyword or "")
    if not keyword.strip():
        raise ValidationError("Keyword", "is required.")
    if len(keyword) > 1000:
        raise ValidationError("Keyword", "is too long (at most 1000 characters).")
    if match == FilterMatch.REGEX:
        check_pattern("Keyword", keyword)
    if data.campaign_id is None:
        raise ValidationError("Target Campaign", "is required: choose an email campaign.")
    return field, match, keyword


class ChannelService(Service):
    def __init__(self, db, actor, secrets: SecretStore | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(db, actor)
        self.secrets = secrets

    def list_channels(self) -> list[ChannelRecord]:
        with self.read() as s:
            return [
                channel_record(c)
                for c in s.scalars(select(Channel).options(*_RELATED).order_by(Channel.name))
            ]

    def get_channel(self, channel_id: int) -> ChannelRecord:
        with self.read() as s:
            channel = s.scalar(select(Channel).where(Channel.id == channel_id).options(*_RELATED))
            found = get_or_404(s, Channel, channel.id if channel else None, "email channel")
            return channel_record(found)

    def _apply(self, s: Session, channel: Channel, d: ChannelData) -> None:
        channel.name = v.text(NAME, d.name)
        ensure_unique(s, Channel, Channel.name, channel.name, NAME, channel.id)
        channel.email_address = v.email_address(ADDRESS, d.email_address)
        channel.display_name = v.text(DISPLAY, d.display_name, required=False)
        if d.default_campaign_id is not None:
            get_or_404(s, Campaign, d.default_campaign_id, "default campaign")
        channel.default_campaign_id = d.default_campaign_id
        channel.enabled = d.enabled
        channel.imap_host = v.hostname("IMAP Host", d.imap_host, required=d.enabled)
        channel.imap_port = v.whole_number("IMAP Port", d.imap_port, maximum=65535)
        channel.imap_security = _choice("IMAP Security", Security, d.imap_security)
        channel.imap_username = v.text(
            "IMAP Username", d.imap_username, required=d.enabled, max_length=320
        )
        channel.imap_folder = v.text("Folder", d.imap_folder or "INBOX", max_length=255)
        channel.after_retrieval = _choice("After Retrieval", AfterRetrieval, d.after_retrieval)
        channel.move_folder = v.text(
            "Move to Folder",
            d.move_folder,
            required=channel.after_retrieval == AfterRetrieval.MOVE,
            max_length=255,
        )
        channel.check_interval = v.whole_number(
            "Check Interval", d.check_interval, minimum=5, maximum=86400
        )
        channel.allow_insecure = d.allow_insecure
        channel.ca_file = (d.ca_file or "").strip()
        channel.smtp_host = v.hostname("SMTP Host", d.smtp_host, required=d.enabled)
        channel.smtp_port = v.whole_number("SMTP Port", d.smtp_port, maximum=65535)
        channel.smtp_security = _choice("SMTP Security", Security, d.smtp_security)
        channel.smtp_username = v.text(
            "SMTP Username", d.smtp_username, required=False, max_length=320
        )
        channel.save_sent_copy = d.save_sent_copy
        channel.sent_folder = v.text(
            "Sent Folder", d.sent_folder, required=d.save_sent_copy, max_length=255
        )
        channel.max_recipients = v.whole_number(
            MAX_RECIPIENTS, d.max_recipients, minimum=1, maximum=MAX_RECIPIENTS_LIMIT
        )
        for label, host, security in (
            ("IMAP Security", channel.imap_host, channel.imap_security),
            ("SMTP Security", channel.smtp_host, channel.smtp_security),
        ):
            if (
                security == Security.NONE
                and host
                and not is_loopback(host)
                and not d.allow_insecure
            ):
                raise ValidationError(
                    label,
                    f"'None' sends the password unencrypted to {host}. Choose SSL/TLS or "
                    "STARTTLS, or tick 'Allow unencrypted connections' if you must.",
                )
        if d.enabled and d.default_campaign_id is None:
            raise ValidationError(
                DEFAULT_CAMPAIGN,
                "is required for an enabled channel (emails matching no filter go there).",
            )

    def create_channel(self, data: ChannelData) -> ChannelRecord:
        with self.write(Permission.ADMINISTER, "The email channel") as s:
            channel = Channel()
            self._apply(s, channel, data)
            s.add(channel)
            s.flush()
            return channel_record(channel)

    def update_channel(
        self, channel_id: int, data: ChannelData, expected_version: int | None
    ) -> ChannelRecord:
        with self.write(Permission.ADMINISTER, "The email channel") as s:
            channel = get_or_404(s, Channel, channel_id, "email channel")
            check_version(channel, expected_version, f"Email channel '{channel.name}'")
            self._apply(s, channel, data)
            s.flush()
            s.expire(channel, ["default_campaign"])  # the new one's, as for the filters
            return channel_record(channel)

    def delete_channel(self, channel_id: int) -> None:
        with self.write(Permission.ADMINISTER, "The email channel") as s:
            channel = get_or_404(s, Channel, channel_id, "email channel")
            org = s.scalar(select(Organisation))
            if org is not None and org.default_channel_id == channel_id:
                raise ValidationError(
                    "Email Channel",
                    f"'{channel.name}' is the Organisation Default Email Channel; choose another "
                    "default in Settings first.",
                )
            uuid = channel.uuid
            installation = org.installation_id if org else ""
            s.delete(channel)
        if self.secrets is not None:
            for direction in ("inbound", "outbound"):
                self.secrets.delete(channel_key(installation, uuid, direction))

    # ---- passwords ----------------------------------------------------------
    def _key(self, channel_id: int, direction: str) -> str:
        with self.read() as s:
            channel = get_or_404(s, Channel, channel_id, "email channel")
            org = s.scalar(select(Organisation))
            return channel_key(org.installation_id if org else "", channel.uuid, direction)

    def set_password(self, channel_id: int, direction: str, password: str) -> None:
        self.actor.require(Permission.ADMINISTER)
        if self.secrets is None:
            raise ValidationError(
                "IMAP Password" if direction == "inbound" else "SMTP Password",
                "no place to keep passwords: no system keyring is "
                "available and the unencrypted file was not chosen.",
            )
        if not password:  # (it used to delete the stored one: never what was meant)
            raise ValidationError(
                "IMAP Password" if direction == "inbound" else "SMTP Password",
                "is empty; type the password to store (the stored one is kept).",
            )
        self.secrets.set(self._key(channel_id, direction), password)

    def get_password(self, channel_id: int, direction: str) -> str | None:
        """The stored secret: for an administrator testing a connection only (retrieval
        and sending read the store themselves, as the channel service)."""
        self.actor.require(Permission.ADMINISTER)
        if self.secrets is None:
            return None
        return self.secrets.get(self._key(channel_id, direction))

    def has_password(self, channel_id: int, direction: str) -> bool:
        """Whether a password is stored, without handing it out (the channel dialog)."""
        return self.get_password(channel_id, direction) is not None

    # ---- filters ------------------------------------------------------------
    def add_filter(self, channel_id: int, data: FilterData) -> FilterRecord:
        with self.write(Permission.ADMINISTER, "The filter") as s:
            channel = get_or_404(s, Channel, channel_id, "email channel")
            field, match, keyword = validate_filter(data)
            get_or_404(s, Campaign, data.campaign_id, "target campaign")
            top = s.scalar(select(func.max(Filter.priority)).where(Filter.channel_id == channel_id))
            flt = Filter(
                channel=channel,
                priority=(top or 0) + 1,
                field=field,
                match=match,
                keyword=keyword,
                campaign_id=data.campaign_id,
                enabled=data.enabled,
            )
            s.add(flt)
            s.flush()
            return filter_record(flt)

    def update_filter(self, filter_id: int, data: FilterData) -> FilterRecord:
        with self.write(Permission.ADMINISTER, "The filter") as s:
            flt = get_or_404(s, Filter, filter_id, "filter")
            flt.field, flt.match, flt.keyword = validate_filter(data)
            get_or_404(s, Campaign, data.campaign_id, "target campaign")
            assert data.campaign_id is not None
            flt.campaign_id = data.campaign_id
            flt.enabled = data.enabled
            s.flush()
            s.expire(flt, ["campaign"])  # the new target's, whatever was loaded before
            return filter_record(flt)

    def delete_filter(self, filter_id: int) -> None:
        with self.write(Permission.ADMINISTER, "The filter") as s:
            flt = get_or_404(s, Filter, filter_id, "filter")
            channel_id = flt.channel_id
            s.delete(flt)
            s.flush()
            self._renumber(s, channel_id)

    def move_filter(self, filter_id: int, delta: int) -> None:
        """Move a filter up (delta < 0) or down in its channel's priority order."""
        with self.write(Permission.ADMINISTER, "The filter") as s:
            flt = get_or_404(s, Filter, filter_id, "filter")
            ordered = self._renumber(s, flt.channel_id)
            index = ordered.index(flt)
            target = max(0, min(len(ordered) - 1, index + delta))
            ordered.insert(target, ordered.pop(index))
            for priority, item in enumerate(ordered, start=1):
                item.priority = priority

    @staticmethod
    def _renumber(s: Session, channel_id: int) -> list[Filter]:
        ordered = list(
            s.scalars(
                select(Filter)
                .where(Filter.channel_id == channel_id)
                .order_by(Filter.priority, Filter.id)
            )
        )
        for priority, item in enumerate(ordered, start=1):
            item.priority = priority
        return ordered
