"""``config export`` / ``config import``: the whole configuration as one JSON object.

The format is documented in docs/config-format.md. Objects refer to each other by
name; no password or secret is ever written. An import reads the file's bytes
(``read_config``), checks its shape (``config_schema``), then creates its objects through
the services, every problem named with its JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.db.engine import Database
from app.db.models import (
    Campaign,
    CampaignGroup,
    CampaignTemplate,
    Channel,
    Team,
    Template,
    User,
)
from app.services import config_schema
from app.services.auth import Actor
from app.services.campaigns import CampaignData, CampaignService
from app.services.channels import ChannelData, ChannelService, FilterData
from app.services.errors import ServiceError, ValidationError
from app.services.people import PeopleService, TeamData, UserData
from app.services.settings import SettingsData, SettingsService, organisation
from app.services.templates import TemplateService

FORMAT_VERSION = 1


def _iso(value: datetime) -> str:
    return value.isoformat()


def export_config(db: Database) -> dict[str, Any]:
    with db.session() as s:
        org = organisation(s)
        groups = s.scalars(select(CampaignGroup).order_by(CampaignGroup.name)).all()
        teams = s.scalars(
            select(Team).options(selectinload(Team.members)).order_by(Team.name)
        ).all()
        users = s.scalars(select(User).options(selectinload(User.teams)).order_by(User.login)).all()
        templates = s.scalars(select(Template).order_by(Template.name)).all()
        channels = s.scalars(
            select(Channel).options(selectinload(Channel.filters)).order_by(Channel.name)
        ).all()
        campaigns = s.scalars(
            select(Campaign)
            .options(
                selectinload(Campaign.teams),
                selectinload(Campaign.template_links).selectinload(CampaignTemplate.template),
            )
            .order_by(Campaign.title)
        ).all()
        campaign_titles = {c.id: c.title for c in campaigns}
        return {
            "format_version": FORMAT_VERSION,
            "settings": {
                "organisation_name": org.name,
                "timezone": org.timezone,
                "date_format": org.date_format,
                "default_email_channel": org.default_channel.name if org.default_channel else None,
                "max_message_size_mb": org.max_message_size // (1024 * 1024),
                "held_email_timeout_minutes": org.held_email_timeout,
            },
            "groups": [
                {
                    "name": g.name,
                    "description": g.description,
                    "parent": g.parent.name if g.parent else None,
                }
                for g in groups
            ],
            "teams": [
                {"name": t.name, "description": t.description, "public": t.is_public} for t in teams
            ],
            "users": [
                {
                    "login": u.login,
                    "display_name": u.display_name,
                    "email": u.email,
                    "role": u.role.value,
                    "active": u.active,
                    "teams": [t.name for t in u.teams],
                }
                for u in users
            ],
            "templates": [
                {"name": t.name, "subject": t.subject, "body": t.body, "body_html": t.body_html}
                for t in templates
            ],
            "channels": [
                {
                    "name": c.name,
                    "email_address": c.email_address,
                    "display_name": c.display_name,
                    "default_campaign": campaign_titles.get(c.default_campaign_id or -1),
                    "enabled": c.enabled,
                    "imap": {
                        "host": c.imap_host,
                        "port": c.imap_port,
                        "security": c.imap_security.value,
                        "username": c.imap_username,
                        "folder": c.imap_folder,
                        "after_retrieval": c.after_retrieval.value,
                        "move_folder": c.move_folder,
                        "check_interval": c.check_interval,
                        "ca_file": c.ca_file,
                    },
                    "smtp": {
                        "host": c.smtp_host,
                        "port": c.smtp_port,
                        "security": c.smtp_security.value,
                        "username": c.smtp_username,
                        "save_sent_copy": c.save_sent_copy,
                        "sent_folder": c.sent_folder,
                        "max_recipients": c.max_recipients,
                    },
                    "allow_insecure": c.allow_insecure,
                    "filters": [
                        {
                            "field": f.field.value,
                            "match": f.match.value,
                            "keyword": f.keyword,
                            "campaign": campaign_titles[f.campaign_id],
                            "enabled": f.enabled,
                        }
                        for f in c.filters
                    ],
                }
                for c in channels
            ],
            "campaigns": [
                {
                    "title": c.title,
                    "description": c.description,
                    "group": c.group.name,
                    "allow_free_format": c.allow_free_format,
                    "require_address_confirmation": c.require_address_confirmation,
                    "allow_put_back": c.allow_put_back,
                    "allow_move": c.allow_move,
                    "allow_draft": c.allow_draft,
                    "email_channel": c.channel.name if c.channel else None,
                    "service_level_period": c.service_level_period,
                    "teams": [t.name for t in c.teams],
                    "templates": [
                        {"name": link.template.name, "added_on": _iso(link.added_on)}
                        for link in sorted(
                            c.template_links, key=lambda lk: (lk.added_on, lk.template.name)
                        )
                    ],
                }
                for c in campaigns
            ],
        }


def _is_empty(s: Session) -> bool:
    for model in (CampaignGroup, Campaign, Team, Template, Channel):
        if s.scalar(select(func.count()).select_from(model)):
            return False
    return True


class ConfigFileError(ValidationError):
    """The file is not a configuration: not UTF-8, not JSON, or keys and values that are
    not the format's; names each problem by its JSON path (the first ones, the rest
    counted)."""

    def __init__(self, found: list[tuple[str, str]]) -> None:
        ServiceError.__init__(self, config_schema.summary(found))
        self.field, self.message = found[0]
        self.problems = found


def read_config(raw: bytes) -> Any:
    """The file's bytes as JSON; ``ConfigFileError`` (never another exception) when they
    are not UTF-8 JSON. Then ``import_config`` checks the shape."""
    try:
        text = raw.decode("utf-8-sig")  # (a byte order mark, as some editors write, is fine)
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            [
                (
                    "file",
                    f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                    "save it as UTF-8.",
                )
            ]
        ) from None
    try:
        return json.loads(text, object_pairs_hook=config_schema.object_pairs)
    except json.JSONDecodeError as exc:
        problem = f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
    except RecursionError:
        problem = "is nested too deeply to be a configuration (arrays or objects inside "
        problem += "each other hundreds of levels deep)."
    except ValueError:  # Python reads no integer of more than 4,300 digits
        problem = "is not valid JSON that can be read: a number has thousands of digits."
    raise ConfigFileError([("file", problem)])


@contextmanager
def _at(path: str) -> Iterator[None]:
    """A service's error about the object at ``path`` in the file, named with that path."""
    try:
        yield
    except ConfigFileError:
        raise
    except ValidationError as exc:
        raise ConfigFileError([(f"{path}: {exc.field}", exc.message)]) from exc


def _lookup(mapping: dict[str, int], name: str | None, path: str) -> int | None:
    if name is None:
        return None
    found = mapping.get(name.strip())
    if found is None:
        raise ConfigFileError([(path, f"refers to '{name}', which is not in the file.")])
    return found


def import_config(
    db: Database, actor: Actor, data: Any, *, check_only: bool = False
) -> dict[str, int]:
    """Create everything in ``data`` in an empty database; returns counts per section.

    The file's shape is checked first (``ConfigFileError`` lists what is wrong with JSON
    paths). Then it is imported through the services in one transaction of the database
    (``Database.unit_of_work``): a problem anywhere in it leaves the database untouched.
    ``check_only``: the same import, on the same database and its real schema, rolled back
    at the end (what an import would do, changing nothing). Users are created without a
    password (they cannot sign in until an administrator sets one with ``user
    set-password``).
    """
    found = config_schema.problems(data)
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version != FORMAT_VERSION:
        found.insert(0, ("$.format_version", f"must be {FORMAT_VERSION} (this program's format)."))
    if found:
        raise ConfigFileError(found)
    with db.unit_of_work(commit=not check_only):
        return _import(db, actor, data)


def _import(db: Database, actor: Actor, data: dict[str, Any]) -> dict[str, int]:
    """The import itself, of a file whose shape was checked: every key known, every value
    of its type (so plain ``get`` with the format's defaults)."""
    with db.session() as s:
        if not _is_empty(s):
            raise ValidationError(
                "database", "already holds a configuration; import needs an empty database."
            )
    settings = data.get("settings") or {}
    campaigns_svc = CampaignService(db, actor)
    people = PeopleService(db, actor)
    templates_svc = TemplateService(db, actor)
    channels_svc = ChannelService(db, actor)

    group_ids: dict[str, int] = {}
    pending = list(enumerate(data.get("groups", [])))
    while pending:  # parents first, whatever the order in the file
        placed = [(n, g) for n, g in pending if g.get("parent") is None or g["parent"] in group_ids]
        if not placed:
            n, g = pending[0]
            raise ConfigFileError(
                [
                    (
                        f"$.groups[{n}].parent",
                        f"'{g.get('parent')}' of '{g['name']}' is not in the file or forms "
                        "a cycle.",
                    )
                ]
            )
        for n, g in placed:
            with _at(f"$.groups[{n}]"):
                group = campaigns_svc.create_group(
                    g["name"], g.get("description", ""), group_ids.get(g.get("parent") or "")
                )
            group_ids[group.name] = group.id
        pending = [(n, g) for n, g in pending if (n, g) not in placed]

    team_ids: dict[str, int] = {}
    for n, t in enumerate(data.get("teams", [])):
        with _at(f"$.teams[{n}]"):
            team = people.create_team(
                TeamData(t["name"], t.get("description", ""), t.get("public", True))
            )
        team_ids[team.name] = team.id

    user_count = 0
    for n, u in enumerate(data.get("users", [])):
        people_data = UserData(
            login=u["login"],
            display_name=u.get("display_name", ""),
            email=u.get("email", ""),
            role=u.get("role", "agent"),
            active=u.get("active", True),
            team_ids=[
                _lookup(team_ids, name, f"$.users[{n}].teams[{k}]") or 0
                for k, name in enumerate(u.get("teams", []))
            ],
        )
        with _at(f"$.users[{n}]"):
            people.create_user(people_data, password=None)
        user_count += 1

    template_ids: dict[str, int] = {}
    for n, t in enumerate(data.get("templates", [])):
        with _at(f"$.templates[{n}]"):
            template = templates_svc.create_template(
                t["name"], t.get("subject", ""), t.get("body", ""), t.get("body_html")
            )
        template_ids[template.name] = template.id

    # Channels first without their campaign references (campaigns refer to channels too).
    channel_ids: dict[str, int] = {}
    channel_entries = list(data.get("channels", []))
    for n, c in enumerate(channel_entries):
        with _at(f"$.channels[{n}]"):
            channel = channels_svc.create_channel(_channel_data(c, None, enabled=False))
        channel_ids[channel.name] = channel.id

    campaign_ids: dict[str, int] = {}
    for n, c in enumerate(data.get("campaigns", [])):
        path = f"$.campaigns[{n}]"
        campaign_data = CampaignData(
            title=c["title"],
            description=c.get("description", ""),
            group_id=_lookup(group_ids, c["group"], f"{path}.group"),
            allow_free_format=c.get("allow_free_format", False),
            require_address_confirmation=c.get("require_address_confirmation", True),
            allow_put_back=c.get("allow_put_back", True),
            allow_move=c.get("allow_move", False),
            allow_draft=c.get("allow_draft", True),
            channel_id=_lookup(channel_ids, c.get("email_channel"), f"{path}.email_channel"),
            service_level_period=c.get("service_level_period", 180),
            team_ids=[
                _lookup(team_ids, name, f"{path}.teams[{k}]") or 0
                for k, name in enumerate(c.get("teams", []))
            ],
        )
        with _at(path):
            campaign = campaigns_svc.create_campaign(campaign_data)
        campaign_ids[campaign.title] = campaign.id
        for k, link in enumerate(c.get("templates", [])):
            link_path = f"{path}.templates[{k}]"
            template_id = _lookup(template_ids, link["name"], f"{link_path}.name")
            assert template_id is not None
            added_on = _when(link.get("added_on"), f"{link_path}.added_on")
            with _at(link_path):
                campaigns_svc.add_template(campaign.id, template_id, added_on)

    for n, c in enumerate(channel_entries):
        path = f"$.channels[{n}]"
        channel_id = channel_ids[c["name"].strip()]
        default = _lookup(campaign_ids, c.get("default_campaign"), f"{path}.default_campaign")
        with _at(path):
            channels_svc.update_channel(
                channel_id, _channel_data(c, default, c.get("enabled", False)), None
            )
        for k, f in enumerate(c.get("filters", [])):
            filter_data = FilterData(
                field=f["field"],
                match=f.get("match", "contains"),
                keyword=f["keyword"],
                campaign_id=_lookup(campaign_ids, f["campaign"], f"{path}.filters[{k}].campaign"),
                enabled=f.get("enabled", True),
            )
            with _at(f"{path}.filters[{k}]"):
                channels_svc.add_filter(channel_id, filter_data)

    settings_svc = SettingsService(db, actor)
    current = settings_svc.get()
    settings_data = SettingsData(
        name=settings.get("organisation_name", current.name),
        timezone=settings.get("timezone", current.timezone),
        date_format=settings.get("date_format", current.date_format),
        default_channel_id=_lookup(
            channel_ids,
            settings.get("default_email_channel"),
            "$.settings.default_email_channel",
        ),
        max_message_size_mb=settings.get("max_message_size_mb", 25),
        held_email_timeout=settings.get("held_email_timeout_minutes", 30),
    )
    with _at("$.settings"):
        settings_svc.update(settings_data)
    return {
        "groups": len(group_ids),
        "teams": len(team_ids),
        "users": user_count,
        "templates": len(template_ids),
        "channels": len(channel_ids),
        "campaigns": len(campaign_ids),
    }


def _when(added_on: str | None, path: str) -> datetime | None:
    if added_on is None:
        return None
    try:
        when = datetime.fromisoformat(added_on)
    except ValueError:
        when = None
    if when is None:
        raise ConfigFileError([(path, f"'{added_on}' is not an ISO 8601 date and time.")])
    if when.tzinfo is None:
        raise ConfigFileError([(path, f"'{added_on}' has no time zone.")])
    return when


def _channel_data(c: dict[str, Any], default_campaign_id: int | None, enabled: bool) -> ChannelData:
    imap = c.get("imap") or {}
    smtp = c.get("smtp") or {}
    return ChannelData(
        name=c["name"],
        email_address=c.get("email_address", ""),
        display_name=c.get("display_name", ""),
        default_campaign_id=default_campaign_id,
        enabled=enabled,
        imap_host=imap.get("host", ""),
        imap_port=imap.get("port", 993),
        imap_security=imap.get("security", "ssl"),
        imap_username=imap.get("username", ""),
        imap_folder=imap.get("folder", "INBOX"),
        after_retrieval=imap.get("after_retrieval", "delete"),
        move_folder=imap.get("move_folder", ""),
        check_interval=imap.get("check_interval", 60),
        ca_file=imap.get("ca_file", ""),
        allow_insecure=c.get("allow_insecure", False),
        smtp_host=smtp.get("host", ""),
        smtp_port=smtp.get("port", 587),
        smtp_security=smtp.get("security", "starttls"),
        smtp_username=smtp.get("username", ""),
        save_sent_copy=smtp.get("save_sent_copy", False),
        sent_folder=smtp.get("sent_folder", "Sent"),
        max_recipients=smtp.get("max_recipients", 100),
    )


__all__ = ["ConfigFileError", "export_config", "import_config", "read_config"]
