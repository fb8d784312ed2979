"""Campaign groups, email campaigns and their template assignments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.db.models import (
    Campaign,
    CampaignGroup,
    CampaignTemplate,
    Channel,
    Email,
    Filter,
    Team,
    Template,
    utcnow,
)
from app.services import validation as v
from app.services.auth import Permission
from app.services.base import Service, check_version, ensure_unique, get_or_404, names
from app.services.errors import NotFound, ValidationError
from app.services.records import (
    AssignedTemplate,
    CampaignRecord,
    CampaignWithAssignments,
    GroupNode,
    Ref,
)

# The seed's labels, used to name fields in errors.
TITLE = "Campaign Title"
DESCRIPTION = "Campaign Description"
GROUP = "Campaign Group"
CHANNEL = "Email Channel"
SERVICE_LEVEL = "Service Level Period"
TEAMS = "Assigned Teams"
GROUP_NAME = "Group Name"


@dataclass
class CampaignData:
    """What the Edit Email Campaign dialog (or an import) submits."""

    title: str
    group_id: int | None
    description: str = ""
    allow_free_format: bool = False
    require_address_confirmation: bool = True
    allow_put_back: bool = True
    allow_move: bool = False
    allow_draft: bool = True
    channel_id: int | None = None  # None: the organisation default
    service_level_period: int | str = 180
    team_ids: list[int] = field(default_factory=list)


def _group_node(group: CampaignGroup, campaign_count: int) -> GroupNode:
    return GroupNode(group.id, group.name, group.description, group.parent_id, campaign_count)


def campaign_record(c: Campaign) -> CampaignRecord:
    """(its group and channel loaded, or loadable in its session)"""
    return CampaignRecord(
        id=c.id,
        title=c.title,
        description=c.description,
        group=Ref(c.group.id, c.group.name),
        allow_free_format=c.allow_free_format,
        require_address_confirmation=c.require_address_confirmation,
        allow_put_back=c.allow_put_back,
        allow_move=c.allow_move,
        allow_draft=c.allow_draft,
        channel=Ref(c.channel.id, c.channel.name) if c.channel else None,
        service_level_period=c.service_level_period,
        version=c.version,
    )


def assigned_template(link: CampaignTemplate) -> AssignedTemplate:
    t = link.template
    return AssignedTemplate(t.id, t.name, t.subject, link.added_on)


def campaign_with_assignments(c: Campaign) -> CampaignWithAssignments:
    return CampaignWithAssignments(
        **vars(campaign_record(c)),
        teams=tuple(Ref(t.id, t.name) for t in c.teams),
        templates=tuple(assigned_template(link) for link in _by_added_on(c.template_links)),
    )


def _by_added_on(links: list[CampaignTemplate]) -> list[CampaignTemplate]:
    return sorted(links, key=lambda link: (link.added_on, link.template_id))


class CampaignService(Service):
    # ---- groups -------------------------------------------------------------
    def list_groups(self) -> list[GroupNode]:
        """Every group (parents before children), with its number of campaigns."""
        with self.read(Permission.CONFIGURE_CAMPAIGNS) as s:
            counts = dict(
                s.execute(select(Campaign.group_id, func.count()).group_by(Campaign.group_id)).all()
            )
            groups = s.scalars(select(CampaignGroup).order_by(CampaignGroup.name)).all()
            return [_group_node(g, counts.get(g.id, 0)) for g in groups]

    def create_group(
        self, name: str, description: str = "", parent_id: int | None = None
    ) -> GroupNode:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The campaign group") as s:
            clean = v.text(GROUP_NAME, name)
            ensure_unique(s, CampaignGroup, CampaignGroup.name, clean, GROUP_NAME, None)
            if parent_id is not None:
                get_or_404(s, CampaignGroup, parent_id, "parent group")
            group = CampaignGroup(
                name=clean, description=(description or "").strip(), parent_id=parent_id
            )
            s.add(group)
            s.flush()
            return _group_node(group, 0)

    def update_group(
        self, group_id: int, name: str, description: str = "", parent_id: int | None = None
    ) -> GroupNode:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The campaign group") as s:
            group = get_or_404(s, CampaignGroup, group_id, "campaign group")
            clean = v.text(GROUP_NAME, name)
            ensure_unique(s, CampaignGroup, CampaignGroup.name, clean, GROUP_NAME, group_id)
            ancestor = parent_id
            while ancestor is not None:
                if ancestor == group_id:
                    raise ValidationError("Parent Group", "a group cannot be placed inside itself.")
                ancestor = get_or_404(s, CampaignGroup, ancestor, "parent group").parent_id
            group.name, group.description, group.parent_id = (
                clean,
                (description or "").strip(),
                parent_id,
            )
            count = s.scalar(select(func.count()).where(Campaign.group_id == group_id)) or 0
            return _group_node(group, count)

    def delete_group(self, group_id: int) -> None:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The campaign group") as s:
            group = get_or_404(s, CampaignGroup, group_id, "campaign group")
            campaigns = s.scalars(
                select(Campaign).where(Campaign.group_id == group_id).order_by(Campaign.title)
            ).all()
            if campaigns:
                raise ValidationError(
                    GROUP,
                    f"'{group.name}' still holds {len(campaigns)} campaign(s): "
                    f"{names(list(campaigns), 'title')}. Move or delete them first.",
                )
            children = s.scalars(
                select(CampaignGroup).where(CampaignGroup.parent_id == group_id)
            ).all()
            if children:
                raise ValidationError(
                    GROUP,
                    f"'{group.name}' still holds sub-groups: {names(list(children))}. "
                    "Move or delete them first.",
                )
            s.delete(group)

    # ---- campaigns ----------------------------------------------------------
    def list_campaigns(self, group_id: int | None = None) -> list[CampaignRecord]:
        with self.read() as s:
            query = (
                select(Campaign)
                .options(selectinload(Campaign.group), selectinload(Campaign.channel))
                .order_by(Campaign.title)
            )
            if group_id is not None:
                query = query.where(Campaign.group_id == group_id)
            return [campaign_record(c) for c in s.scalars(query)]

    def get_campaign(self, campaign_id: int) -> CampaignWithAssignments:
        with self.read() as s:
            campaign = s.scalar(
                select(Campaign)
                .where(Campaign.id == campaign_id)
                .options(
                    selectinload(Campaign.group),
                    selectinload(Campaign.channel),
                    selectinload(Campaign.teams),
                    selectinload(Campaign.template_links).selectinload(CampaignTemplate.template),
                )
            )
            if campaign is None:
                raise NotFound("The email campaign no longer exists.")
            return campaign_with_assignments(campaign)

    def _apply(self, s: Session, campaign: Campaign, data: CampaignData) -> None:
        title = v.no_quotation_marks(TITLE, v.text(TITLE, data.title))
        ensure_unique(s, Campaign, Campaign.title, title, TITLE, campaign.id)
        if data.group_id is None:
            raise ValidationError(GROUP, "is required: choose a campaign group.")
        get_or_404(s, CampaignGroup, data.group_id, "campaign group")
        if data.channel_id is not None:
            get_or_404(s, Channel, data.channel_id, "email channel")
        period = v.whole_number(SERVICE_LEVEL, data.service_level_period, minimum=1)
        teams = (
            list(s.scalars(select(Team).where(Team.id.in_(data.team_ids)))) if data.team_ids else []
        )
        if len(teams) != len(set(data.team_ids)):
            raise ValidationError(TEAMS, "a chosen team no longer exists; reopen the dialog.")
        campaign.title = title
        campaign.description = (data.description or "").strip()
        campaign.group_id = data.group_id
        campaign.allow_free_format = data.allow_free_format
        campaign.require_address_confirmation = data.require_address_confirmation
        campaign.allow_put_back = data.allow_put_back
        campaign.allow_move = data.allow_move
        campaign.allow_draft = data.allow_draft
        campaign.channel_id = data.channel_id
        campaign.service_level_period = period
        campaign.teams = sorted(teams, key=lambda t: t.name)

    def create_campaign(self, data: CampaignData) -> CampaignRecord:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email campaign") as s:
            campaign = Campaign()
            self._apply(s, campaign, data)
            s.add(campaign)
            s.flush()
            return campaign_record(campaign)

    def update_campaign(
        self, campaign_id: int, data: CampaignData, expected_version: int | None
    ) -> CampaignRecord:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email campaign") as s:
            campaign = get_or_404(s, Campaign, campaign_id, "email campaign")
            check_version(campaign, expected_version, f"Email campaign '{campaign.title}'")
            self._apply(s, campaign, data)
            s.flush()
            s.expire(campaign, ["group", "channel"])  # the new ones, whatever was loaded
            return campaign_record(campaign)

    def delete_campaign(self, campaign_id: int) -> None:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email campaign") as s:
            campaign = get_or_404(s, Campaign, campaign_id, "email campaign")
            emails = s.scalar(select(func.count()).where(Email.campaign_id == campaign_id)) or 0
            if emails:
                raise ValidationError(
                    "Email Campaign",
                    f"'{campaign.title}' has {emails} email(s) and cannot be deleted.",
                )
            used_by_channels = s.scalars(
                select(Channel).where(Channel.default_campaign_id == campaign_id)
            ).all()
            used_by_filters = s.scalars(
                select(Filter).where(Filter.campaign_id == campaign_id)
            ).all()
            if used_by_channels or used_by_filters:
                where = sorted(
                    {c.name for c in used_by_channels} | {f.channel.name for f in used_by_filters}
                )
                raise ValidationError(
                    "Email Campaign",
                    f"'{campaign.title}' is a routing target of channel(s) "
                    f"{', '.join(where)}; change their default campaign and filters first.",
                )
            s.delete(campaign)

    # ---- templates of a campaign -------------------------------------------
    def campaign_templates(self, campaign_id: int) -> list[AssignedTemplate]:
        """The campaign's Email Templates by Added On (as ``get_campaign`` holds them)."""
        with self.read() as s:
            return [
                assigned_template(link)
                for link in s.scalars(
                    select(CampaignTemplate)
                    .where(CampaignTemplate.campaign_id == campaign_id)
                    .options(selectinload(CampaignTemplate.template))
                    .order_by(CampaignTemplate.added_on, CampaignTemplate.template_id)
                )
            ]

    def add_template(
        self, campaign_id: int, template_id: int, added_on: datetime | None = None
    ) -> AssignedTemplate:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The template assignment") as s:
            campaign = get_or_404(s, Campaign, campaign_id, "email campaign")
            template = get_or_404(s, Template, template_id, "email template")
            if s.get(CampaignTemplate, (campaign_id, template_id)) is not None:
                raise ValidationError(
                    "Email Templates",
                    f"'{template.name}' is already assigned to '{campaign.title}'.",
                )
            link = CampaignTemplate(
                campaign=campaign, template=template, added_on=added_on or utcnow()
            )
            s.add(link)
            s.flush()
            return assigned_template(link)

    def remove_template(self, campaign_id: int, template_id: int) -> None:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The template assignment") as s:
            link = s.get(CampaignTemplate, (campaign_id, template_id))
            if link is None:
                raise NotFound("The template is no longer assigned to this campaign.")
            s.delete(link)
