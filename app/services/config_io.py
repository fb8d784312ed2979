"""``config export`` / ``config import``: the whole configuration as one JSON object.

The format is documented in docs/config-format.md. Objects refer to each other by
name; no password or secret is ever written.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.db.engine import Database
from app.db.models import (
    Base,
    Campaign,
    CampaignGroup,
    CampaignTemplate,
    Channel,
    Team,
    Template,
    User,
)
from app.services.auth import Actor
from app.services.campaigns import CampaignData, CampaignService
from app.services.channels import ChannelData, ChannelService, FilterData
from app.services.errors import ValidationError
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


def _section(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValidationError(key, "must be a list of objects.")
    return value


def _lookup(mapping: dict[str, int], name: str | None, field: str) -> int | None:
    if name is None:
        return None
    if name not in mapping:
        raise ValidationError(field, f"refers to '{name}', which is not in the file.")
    return mapping[name]


def import_config(db: Database, actor: Actor, data: Any) -> dict[str, int]:
    """Create everything in ``data`` in an empty database; returns counts per section.

    The file is first imported into a scratch database, so that a problem anywhere in
    it leaves the real database untouched. Users are created without a password (they
    cannot sign in until an administrator sets one with ``user set-password``).
    """
    with db.session() as s:
        if not _is_empty(s):
            raise ValidationError(
                "database", "already holds a configuration; import needs an empty database."
            )
    with tempfile.TemporaryDirectory(prefix="email-campaigns-import-") as scratch_dir:
        scratch = Database(f"sqlite:///{Path(scratch_dir) / 'check.sqlite3'}")
        try:
            Base.metadata.create_all(scratch.engine)
            _import(scratch, actor, data)
        finally:
            scratch.dispose()
    return _import(db, actor, data)


def _import(db: Database, actor: Actor, data: Any) -> dict[str, int]:
    if not isinstance(data, dict):
        raise ValidationError("file", "must hold one JSON object.")
    if data.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ValidationError("format_version", f"must be {FORMAT_VERSION}.")
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
    pending = _section(data, "groups")
    while pending:  # parents first, whatever the order in the file
        placed = [g for g in pending if g.get("parent") is None or g["parent"] in group_ids]
        if not placed:
            raise ValidationError(
                "groups",
                f"parent '{pending[0].get('parent')}' of '{pending[0].get('name')}' "
                "is missing or forms a cycle.",
            )
        for g in placed:
            group = campaigns_svc.create_group(
                g.get("name", ""), g.get("description", ""), group_ids.get(g.get("parent") or "")
            )
            group_ids[group.name] = group.id
        pending = [g for g in pending if g not in placed]

    team_ids: dict[str, int] = {}
    for t in _section(data, "teams"):
        team = people.create_team(
            TeamData(t.get("name", ""), t.get("description", ""), bool(t.get("public", True)))
        )
        team_ids[team.name] = team.id

    user_count = 0
    for u in _section(data, "users"):
        people_data = UserData(
            login=u.get("login", ""),
            display_name=u.get("display_name", ""),
            email=u.get("email", ""),
            role=u.get("role", "agent"),
            active=bool(u.get("active", True)),
            team_ids=[
                _lookup(team_ids, n, f"users.{u.get('login')}.teams") or 0
                for n in u.get("teams", [])
            ],
        )
        people.create_user(people_data, password=None)
        user_count += 1

    template_ids: dict[str, int] = {}
    for t in _section(data, "templates"):
        template = templates_svc.create_template(
            t.get("name", ""), t.get("subject", ""), t.get("body", ""), t.get("body_html")
        )
        template_ids[template.name] = template.id

    # Channels first without their campaign references (campaigns refer to channels too).
    channel_ids: dict[str, int] = {}
    channel_entries = _section(data, "channels")
    for c in channel_entries:
        channel = channels_svc.create_channel(_channel_data(c, None, enabled=False))
        channel_ids[channel.name] = channel.id

    campaign_ids: dict[str, int] = {}
    for c in _section(data, "campaigns"):
        title = c.get("title", "")
        campaign = campaigns_svc.create_campaign(
            CampaignData(
                title=title,
                description=c.get("description", ""),
                group_id=_lookup(group_ids, c.get("group"), f"campaigns.{title}.group"),
                allow_free_format=bool(c.get("allow_free_format", False)),
                require_address_confirmation=bool(c.get("require_address_confirmation", True)),
                allow_put_back=bool(c.get("allow_put_back", True)),
                allow_move=bool(c.get("allow_move", False)),
                allow_draft=bool(c.get("allow_draft", True)),
                channel_id=_lookup(
                    channel_ids, c.get("email_channel"), f"campaigns.{title}.email_channel"
                ),
                service_level_period=c.get("service_level_period", 180),
                team_ids=[
                    _lookup(team_ids, n, f"campaigns.{title}.teams") or 0
                    for n in c.get("teams", [])
                ],
            )
        )
        campaign_ids[campaign.title] = campaign.id
        for link in c.get("templates", []):
            template_id = _lookup(template_ids, link.get("name"), f"campaigns.{title}.templates")
            assert template_id is not None
            campaigns_svc.add_template(campaign.id, template_id, _when(link.get("added_on")))

    for c in channel_entries:
        channel_id = channel_ids[c["name"].strip()]
        default = _lookup(
            campaign_ids, c.get("default_campaign"), f"channels.{c['name']}.default_campaign"
        )
        channels_svc.update_channel(
            channel_id, _channel_data(c, default, c.get("enabled", False)), None
        )
        for f in c.get("filters", []):
            channels_svc.add_filter(
                channel_id,
                FilterData(
                    field=f.get("field", ""),
                    match=f.get("match", "contains"),
                    keyword=f.get("keyword", ""),
                    campaign_id=_lookup(
                        campaign_ids, f.get("campaign"), f"channels.{c['name']}.filters.campaign"
                    ),
                    enabled=bool(f.get("enabled", True)),
                ),
            )

    settings_svc = SettingsService(db, actor)
    current = settings_svc.get()
    settings_svc.update(
        SettingsData(
            name=settings.get("organisation_name", current.name),
            timezone=settings.get("timezone", current.timezone),
            date_format=settings.get("date_format", current.date_format),
            default_channel_id=_lookup(
                channel_ids, settings.get("default_email_channel"), "settings.default_email_channel"
            ),
            max_message_size_mb=settings.get("max_message_size_mb", 25),
            held_email_timeout=settings.get("held_email_timeout_minutes", 30),
        )
    )
    return {
        "groups": len(group_ids),
        "teams": len(team_ids),
        "users": user_count,
        "templates": len(template_ids),
        "channels": len(channel_ids),
        "campaigns": len(campaign_ids),
    }


def _when(added_on: Any) -> datetime | None:
    if added_on is None:
        return None
    try:
        when = datetime.fromisoformat(added_on)
    except (TypeError, ValueError) as exc:
        raise ValidationError("templates.added_on", f"'{added_on}' is not an ISO date.") from exc
    if when.tzinfo is None:
        raise ValidationError("templates.added_on", f"'{added_on}' has no time zone.")
    return when


def _channel_data(c: dict[str, Any], default_campaign_id: int | None, enabled: bool) -> ChannelData:
    imap = c.get("imap") or {}
    smtp = c.get("smtp") or {}
    return ChannelData(
        name=c.get("name", ""),
        email_address=c.get("email_address", ""),
        display_name=c.get("display_name", ""),
        default_campaign_id=default_campaign_id,
        enabled=bool(enabled),
        imap_host=imap.get("host", ""),
        imap_port=imap.get("port", 993),
        imap_security=imap.get("security", "ssl"),
        imap_username=imap.get("username", ""),
        imap_folder=imap.get("folder", "INBOX"),
        after_retrieval=imap.get("after_retrieval", "delete"),
        move_folder=imap.get("move_folder", ""),
        check_interval=imap.get("check_interval", 60),
        ca_file=imap.get("ca_file", ""),
        allow_insecure=bool(c.get("allow_insecure", False)),
        smtp_host=smtp.get("host", ""),
        smtp_port=smtp.get("port", 587),
        smtp_security=smtp.get("security", "starttls"),
        smtp_username=smtp.get("username", ""),
        save_sent_copy=bool(smtp.get("save_sent_copy", False)),
        sent_folder=smtp.get("sent_folder", "Sent"),
        max_recipients=smtp.get("max_recipients", 100),
    )


__all__ = ["export_config", "import_config"]
