"""Every validation of the configuration services, and role checks."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Campaign, CampaignGroup, Role, User
from app.services import auth
from app.services.auth import Actor
from app.services.campaigns import CampaignData, CampaignService
from app.services.channels import ChannelData, ChannelService, FilterData
from app.services.errors import (
    AuthenticationError,
    ConflictError,
    PermissionDenied,
    ValidationError,
)
from app.services.people import PeopleService, TeamData, UserData
from app.services.records import CampaignRef, Ref
from app.services.settings import SettingsData, SettingsService
from app.services.templates import TemplateService
from tests.conftest import sign_in_as, stored_bytes


def group_id(db: Database, name: str) -> int:
    with db.session() as s:
        return s.scalars(select(CampaignGroup.id).where(CampaignGroup.name == name)).one()


def campaign(db: Database, title: str) -> Campaign:
    with db.session() as s:
        return s.scalars(select(Campaign).where(Campaign.title == title)).one()


def data(db: Database, **changes: object) -> CampaignData:
    base = CampaignData(title="New campaign", group_id=group_id(db, "Sales"))
    for key, value in changes.items():
        setattr(base, key, value)
    return base


# ---- campaigns -----------------------------------------------------------------


@pytest.mark.parametrize("mark", ['"', "'", "“", "”", "‘", "’"])
def test_campaign_title_with_quotation_mark_is_refused(demo_db, supervisor, mark):
    svc = CampaignService(demo_db, supervisor)
    with pytest.raises(ValidationError) as info:
        svc.create_campaign(data(demo_db, title=f"Say {mark}hello{mark}"))
    assert info.value.field == "Campaign Title"
    assert "quotation marks" in info.value.message
    assert mark in info.value.message


@pytest.mark.parametrize("title", ["", "   ", "\t"])
def test_blank_campaign_title_is_refused(demo_db, supervisor, title):
    with pytest.raises(ValidationError) as info:
        CampaignService(demo_db, supervisor).create_campaign(data(demo_db, title=title))
    assert info.value.field == "Campaign Title"
    assert "required" in info.value.message


def test_duplicate_campaign_title_is_refused_whatever_the_case(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        CampaignService(demo_db, supervisor).create_campaign(data(demo_db, title="  oRdErS "))
    assert info.value.field == "Campaign Title"
    assert "already used" in info.value.message


def test_duplicate_titles_are_found_whatever_the_case_of_non_ascii_letters(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        CampaignService(demo_db, supervisor).create_campaign(
            data(demo_db, title="GRÖSSE – 5 € AKTION")
        )
    assert "already used" in info.value.message


def test_campaign_title_is_trimmed_and_non_ascii_kept(demo_db, supervisor):
    created = CampaignService(demo_db, supervisor).create_campaign(
        data(demo_db, title="  日本語 – Größe 5 €  ")
    )
    assert campaign(demo_db, "日本語 – Größe 5 €").id == created.id


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0", "1 or more"),
        ("-5", "1 or more"),
        ("1.5", "not a whole number"),
        ("abc", "not a whole number"),
        ("", "required"),
        ("1e3", "not a whole number"),
    ],
)
def test_service_level_period_must_be_a_whole_number_above_zero(
    demo_db, supervisor, typed, expected
):
    with pytest.raises(ValidationError) as info:
        CampaignService(demo_db, supervisor).create_campaign(
            data(demo_db, service_level_period=typed)
        )
    assert info.value.field == "Service Level Period"
    assert expected in info.value.message


def test_service_level_period_typed_as_text_is_accepted(demo_db, supervisor):
    created = CampaignService(demo_db, supervisor).create_campaign(
        data(demo_db, service_level_period=" 240 ")
    )
    assert created.service_level_period == 240


def test_campaign_needs_a_group(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        CampaignService(demo_db, supervisor).create_campaign(data(demo_db, group_id=None))
    assert info.value.field == "Campaign Group"


def test_campaign_keeps_every_field_and_teams(demo_db, supervisor):
    svc = CampaignService(demo_db, supervisor)
    teams = {t.name: t.id for t in PeopleService(demo_db, supervisor).list_teams()}
    channel_id = ChannelService(demo_db, supervisor).list_channels()[0].id
    created = svc.create_campaign(
        CampaignData(
            title="Warranty",
            group_id=group_id(demo_db, "Customer Service"),
            description="Broken things",
            allow_free_format=True,
            require_address_confirmation=False,
            allow_put_back=False,
            allow_move=True,
            allow_draft=False,
            channel_id=channel_id,
            service_level_period=45,
            team_ids=[teams["Escalations"], teams["Front Line"]],
        )
    )
    loaded = svc.get_campaign(created.id)
    assert (loaded.title, loaded.description, loaded.group.name) == (
        "Warranty",
        "Broken things",
        "Customer Service",
    )
    assert (
        loaded.allow_free_format,
        loaded.require_address_confirmation,
        loaded.allow_put_back,
        loaded.allow_move,
        loaded.allow_draft,
    ) == (True, False, False, True, False)
    assert loaded.channel_id == channel_id
    assert loaded.service_level_period == 45
    assert [t.name for t in loaded.teams] == ["Escalations", "Front Line"]


def test_two_supervisors_saving_the_same_campaign_get_a_conflict(demo_db, supervisor, admin):
    first = CampaignService(demo_db, supervisor)
    second = CampaignService(demo_db, admin)
    opened_by_first = first.get_campaign(campaign(demo_db, "Orders").id)
    opened_by_second = second.get_campaign(opened_by_first.id)
    changed = data(demo_db, title="Orders (first)", group_id=opened_by_first.group_id)
    first.update_campaign(opened_by_first.id, changed, opened_by_first.version)
    with pytest.raises(ConflictError) as info:
        second.update_campaign(
            opened_by_second.id, data(demo_db, title="Orders (second)"), opened_by_second.version
        )
    assert "changed by someone else" in str(info.value)
    assert campaign(demo_db, "Orders (first)").id == opened_by_first.id


def test_deleting_a_group_with_campaigns_names_them(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        CampaignService(demo_db, supervisor).delete_group(group_id(demo_db, "Sales"))
    assert "Sales Leads" in info.value.message
    assert "Größe – 5 € Aktion" in info.value.message


def test_deleting_a_group_with_sub_groups_names_them(demo_db, supervisor):
    svc = CampaignService(demo_db, supervisor)
    parent = svc.create_group("Empty parent")
    svc.create_group("Child", parent_id=parent.id)
    with pytest.raises(ValidationError) as info:
        svc.delete_group(parent.id)
    assert "Child" in info.value.message


def test_an_empty_group_can_be_deleted(demo_db, supervisor):
    svc = CampaignService(demo_db, supervisor)
    group = svc.create_group("Temporary")
    svc.delete_group(group.id)
    assert "Temporary" not in [g.name for g in svc.list_groups()]


def test_a_group_cannot_be_placed_inside_itself(demo_db, supervisor):
    svc = CampaignService(demo_db, supervisor)
    parent = group_id(demo_db, "Customer Service")
    child = group_id(demo_db, "Orders & Returns")
    with pytest.raises(ValidationError) as info:
        svc.update_group(parent, "Customer Service", "", child)
    assert info.value.field == "Parent Group"


def test_duplicate_group_name_is_refused(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        CampaignService(demo_db, supervisor).create_group("sales")
    assert info.value.field == "Group Name"


def test_template_assignment_records_added_on_and_refuses_twice(demo_db, supervisor):
    svc = CampaignService(demo_db, supervisor)
    target = campaign(demo_db, "Sales Leads")
    template = TemplateService(demo_db, supervisor).create_template("Thanks", "Thanks", "Thank you")
    link = svc.add_template(target.id, template.id)
    assert link.added_on is not None and link.added_on.tzinfo is not None
    names = [lk.name for lk in svc.campaign_templates(target.id)]
    assert names[-1] == "Thanks"
    assert svc.get_campaign(target.id).templates == tuple(svc.campaign_templates(target.id))
    with pytest.raises(ValidationError) as info:
        svc.add_template(target.id, template.id)
    assert "already assigned" in info.value.message
    svc.remove_template(target.id, template.id)
    assert "Thanks" not in [lk.name for lk in svc.campaign_templates(target.id)]


def test_a_campaign_that_is_a_routing_target_cannot_be_deleted(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        CampaignService(demo_db, supervisor).delete_campaign(campaign(demo_db, "Orders").id)
    assert "Support mailbox" in info.value.message


# ---- templates -----------------------------------------------------------------


def test_template_with_unknown_placeholder_is_refused(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        TemplateService(demo_db, supervisor).create_template(
            "Bad", "Hello", "Dear {{ customer.nmae }}, {{ agent.name }}"
        )
    assert info.value.field == "Body"
    assert "{{ customer.nmae }}" in info.value.message
    assert "customer.name" in info.value.message  # lists the known ones


def test_template_placeholder_in_subject_is_checked(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        TemplateService(demo_db, supervisor).create_template("Bad", "Re {{ email.subjekt }}", "x")
    assert info.value.field == "Email Subject"


def test_template_with_unclosed_placeholder_is_refused(demo_db, supervisor):
    with pytest.raises(ValidationError) as info:
        TemplateService(demo_db, supervisor).create_template("Bad", "Hi", "Dear {{ customer.name")
    assert "without a matching" in info.value.message


def test_template_name_required_and_unique(demo_db, supervisor):
    svc = TemplateService(demo_db, supervisor)
    with pytest.raises(ValidationError) as info:
        svc.create_template(" ", "s", "b")
    assert info.value.field == "Template Name"
    with pytest.raises(ValidationError) as info:
        svc.create_template("order STATUS", "s", "b")
    assert "already used" in info.value.message


def test_template_optimistic_lock(demo_db, supervisor, admin):
    a = TemplateService(demo_db, supervisor)
    b = TemplateService(demo_db, admin)
    template = a.create_template("Lock", "S", "B")
    a.update_template(template.id, "Lock", "S2", "B", None, template.version)
    with pytest.raises(ConflictError):
        b.update_template(template.id, "Lock", "S3", "B", None, template.version)
    assert a.get_template(template.id).subject == "S2"


# ---- teams and users -----------------------------------------------------------


def test_deleting_a_team_still_assigned_names_the_campaigns(demo_db, admin):
    svc = PeopleService(demo_db, admin)
    escalations = next(t for t in svc.list_teams() if t.name == "Escalations")
    with pytest.raises(ValidationError) as info:
        svc.delete_team(escalations.id)
    assert "Complaints" in info.value.message and "Returns" in info.value.message


def test_team_name_required_and_unique(demo_db, admin):
    svc = PeopleService(demo_db, admin)
    with pytest.raises(ValidationError) as info:
        svc.create_team(TeamData(""))
    assert info.value.field == "Team Name"
    with pytest.raises(ValidationError):
        svc.create_team(TeamData("front line"))


def test_user_validation(demo_db, admin):
    svc = PeopleService(demo_db, admin)
    with pytest.raises(ValidationError) as info:
        svc.create_user(UserData("new user", "New"), "long-enough")
    assert info.value.field == "Login Name"
    with pytest.raises(ValidationError) as info:
        svc.create_user(UserData("newuser", "New", "not-an-address"), "long-enough")
    assert info.value.field == "Email Address"
    with pytest.raises(ValidationError) as info:
        svc.create_user(UserData("newuser", "New", role="boss"), "long-enough")
    assert info.value.field == "Role"
    with pytest.raises(ValidationError) as info:
        svc.create_user(UserData("newuser", "New"), "short")
    assert info.value.field == "Password"


def test_passwords_are_hashed_with_scrypt_and_sign_in_works(demo_db, admin):
    svc = PeopleService(demo_db, admin)
    user = svc.create_user(UserData("renee", "Renée Größe", "renee@example.com"), "s3cret-Größe")
    with demo_db.session() as s:
        stored = s.get_one(User, user.id).password_hash
    if demo_db.is_sqlite:
        assert stored is not None and stored.startswith("scrypt$") and "s3cret" not in stored
    else:  # PostgreSQL holds it, as the login's SCRAM verifier: nothing in the table
        assert stored is None
    actor = sign_in_as(demo_db, "renee", "s3cret-Größe")
    assert actor.role == Role.AGENT and actor.display_name == "Renée Größe"
    with pytest.raises(AuthenticationError):
        sign_in_as(demo_db, "renee", "wrong")
    with pytest.raises(AuthenticationError):
        sign_in_as(demo_db, "nobody", "s3cret-Größe")


def test_changing_a_demo_password_removes_it_from_the_sign_in_list(demo_db, admin):
    logins = [login for login, _, _ in auth.demo_accounts(demo_db)]
    assert {"admin", "sam", "alice"} <= set(logins)
    alice = next(u for u in PeopleService(demo_db, admin).list_users() if u.login == "alice")
    PeopleService(demo_db, admin).set_password(alice.id, "a-new-password")
    assert "alice" not in [login for login, _, _ in auth.demo_accounts(demo_db)]


def test_the_last_administrator_stays(demo_db, admin):
    svc = PeopleService(demo_db, admin)
    me = next(u for u in svc.list_users() if u.login == "admin")
    with pytest.raises(ValidationError) as info:
        svc.update_user(me.id, UserData("admin", "Ada", "", Role.AGENT))
    assert "last active administrator" in info.value.message
    with pytest.raises(ValidationError):
        svc.delete_user(me.id)


# ---- channels and filters ------------------------------------------------------


def channel_data(**changes: object) -> ChannelData:
    base = ChannelData(name="Help desk", email_address="help@example.com")
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@pytest.mark.parametrize("address", ["not an address", "a@", "@b.com", "a,b@example.com", ""])
def test_invalid_channel_address_is_refused(demo_db, admin, address):
    with pytest.raises(ValidationError) as info:
        ChannelService(demo_db, admin).create_channel(channel_data(email_address=address))
    assert info.value.field == "Email Address"


def test_enabled_channel_needs_hosts_and_default_campaign(demo_db, admin):
    svc = ChannelService(demo_db, admin)
    with pytest.raises(ValidationError) as info:
        svc.create_channel(channel_data(enabled=True))
    assert info.value.field == "IMAP Host"
    with pytest.raises(ValidationError) as info:
        svc.create_channel(
            channel_data(
                enabled=True,
                imap_host="imap.example.com",
                imap_username="help",
                smtp_host="smtp.example.com",
            )
        )
    assert info.value.field == "Default Campaign"


def test_unencrypted_connection_to_a_remote_host_is_refused_unless_allowed(demo_db, admin):
    svc = ChannelService(demo_db, admin)
    with pytest.raises(ValidationError) as info:
        svc.create_channel(channel_data(imap_host="imap.example.com", imap_security="none"))
    assert info.value.field == "IMAP Security"
    svc.create_channel(channel_data(name="Local", imap_host="127.0.0.1", imap_security="none"))
    svc.create_channel(
        channel_data(
            name="Allowed", imap_host="imap.example.com", imap_security="none", allow_insecure=True
        )
    )


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("imap_port", "99999", "IMAP Port"),
        ("imap_port", "x", "IMAP Port"),
        ("check_interval", "0", "Check Interval"),
        ("imap_host", "bad host!", "IMAP Host"),
        ("after_retrieval", "move", "Move to Folder"),
        ("imap_security", "tls13", "IMAP Security"),
    ],
)
def test_channel_field_validation(demo_db, admin, field, value, label):
    with pytest.raises(ValidationError) as info:
        ChannelService(demo_db, admin).create_channel(channel_data(**{field: value}))
    assert info.value.field == label


def test_filter_with_invalid_regular_expression_is_refused(demo_db, admin):
    svc = ChannelService(demo_db, admin)
    channel = svc.list_channels()[0]
    target = campaign(demo_db, "Orders").id
    with pytest.raises(ValidationError) as info:
        svc.add_filter(channel.id, FilterData("subject", "regex", "order(", target))
    assert info.value.field == "Keyword"
    assert "regular expression" in info.value.message
    with pytest.raises(ValidationError) as info:
        svc.add_filter(channel.id, FilterData("subject", "contains", "  ", target))
    assert info.value.field == "Keyword"
    with pytest.raises(ValidationError) as info:
        svc.add_filter(channel.id, FilterData("header", "contains", "x", target))
    assert info.value.field == "Field"


def test_filters_reorder_by_priority(demo_db, admin):
    svc = ChannelService(demo_db, admin)
    channel = svc.list_channels()[1]  # Support mailbox, 4 filters
    keywords = [f.keyword for f in svc.get_channel(channel.id).filters]
    last = svc.get_channel(channel.id).filters[-1]
    svc.move_filter(last.id, -10)
    after = [f.keyword for f in svc.get_channel(channel.id).filters]
    assert after == [keywords[-1], *keywords[:-1]]
    assert [f.priority for f in svc.get_channel(channel.id).filters] == [1, 2, 3, 4]


def test_channel_passwords_go_to_the_keyring_only(demo_db, admin, secrets, memory_keyring):
    svc = ChannelService(demo_db, admin, secrets)
    channel = svc.list_channels()[0]
    svc.set_password(channel.id, "inbound", "imap-Geheimnis-1")
    assert svc.get_password(channel.id, "inbound") == "imap-Geheimnis-1"
    assert "imap-Geheimnis-1" in memory_keyring.secrets.values()
    raw = stored_bytes(demo_db)
    assert raw and b"imap-Geheimnis-1" not in raw


# ---- settings ------------------------------------------------------------------


def test_settings_validation(demo_db, admin):
    svc = SettingsService(demo_db, admin)
    with pytest.raises(ValidationError) as info:
        svc.update(SettingsData("Example", "Mars/Olympus"))
    assert info.value.field == "Time Zone"
    with pytest.raises(ValidationError) as info:
        svc.update(SettingsData("", "UTC"))
    assert info.value.field == "Organisation Name"
    saved = svc.update(SettingsData("Größe GmbH", "Europe/Berlin", default_channel_id=None))
    assert (saved.name, saved.timezone, saved.default_channel_id) == (
        "Größe GmbH",
        "Europe/Berlin",
        None,
    )


# ---- what the services hand out ---------------------------------------------------


def test_configuration_services_hand_out_frozen_records_not_database_rows(demo_db, admin):
    campaigns, templates = CampaignService(demo_db, admin), TemplateService(demo_db, admin)
    people, channels = PeopleService(demo_db, admin), ChannelService(demo_db, admin)
    orders = campaign(demo_db, "Orders").id
    template = templates.list_templates()[0].id
    channel = channels.list_channels()[0].id
    handed = [
        *campaigns.list_groups(),
        *campaigns.list_campaigns(),
        campaigns.get_campaign(orders),
        *campaigns.campaign_templates(orders),
        *templates.list_templates(),
        templates.get_template(template),
        *people.list_teams(),
        *people.list_users(),
        *channels.list_channels(),
        channels.get_channel(channel),
        SettingsService(demo_db, admin).get(),
    ]
    kinds = set()
    for record in handed:
        kind = type(record)
        kinds.add(kind.__name__)
        assert dataclasses.is_dataclass(record), kind
        assert kind.__module__ == "app.services.records", kind
        first = dataclasses.fields(record)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, first, None)
    assert kinds == {
        "GroupNode",
        "CampaignRecord",
        "CampaignWithAssignments",
        "AssignedTemplate",
        "TemplateRecord",
        "TeamRecord",
        "UserRecord",
        "ChannelRecord",
        "OrganisationSettings",
    }


def test_records_hold_what_screens_used_to_reach_through_relationships(demo_db, admin):
    complaints = CampaignService(demo_db, admin).get_campaign(campaign(demo_db, "Complaints").id)
    assert complaints.group.name == "Customer Service"
    assert [t.name for t in complaints.teams] == ["Escalations"]
    assert [t.name for t in complaints.templates] == ["Escalation notice", "Acknowledgement"]
    escalations = next(
        t for t in PeopleService(demo_db, admin).list_teams() if t.name == "Escalations"
    )
    assert [c.title for c in escalations.campaigns] == ["Complaints", "Returns"]
    template = next(
        t for t in TemplateService(demo_db, admin).list_templates() if t.name == "Order status"
    )
    assert template.campaigns and all(isinstance(c, CampaignRef) for c in template.campaigns)
    support = next(
        c for c in ChannelService(demo_db, admin).list_channels() if c.name == "Support mailbox"
    )
    assert support.default_campaign == CampaignRef(
        campaign(demo_db, "General Enquiries").id, "General Enquiries"
    )
    assert [f.campaign.title for f in support.filters] == [
        "Orders",
        "Returns",
        "Complaints",
        "Sales Leads",
    ]
    assert SettingsService(demo_db, admin).get().default_channel == Ref(
        support.id, "Support mailbox"
    )


def test_saving_returns_the_new_group_channel_and_target_by_name(demo_db, admin):
    campaigns, channels = CampaignService(demo_db, admin), ChannelService(demo_db, admin)
    orders = campaigns.get_campaign(campaign(demo_db, "Orders").id)
    sales = next(c for c in channels.list_channels() if c.name == "Sales mailbox")
    assert orders.group.name == "Orders & Returns" and orders.channel is None
    saved = campaigns.update_campaign(
        orders.id,
        data(demo_db, title="Orders", channel_id=sales.id, team_ids=[t.id for t in orders.teams]),
        orders.version,
    )
    assert saved.group == Ref(group_id(demo_db, "Sales"), "Sales")
    assert saved.channel == Ref(sales.id, "Sales mailbox")
    assert saved.version == orders.version + 1
    assert campaigns.get_campaign(orders.id).teams == orders.teams

    flt = sales.filters[0]
    leads = campaign(demo_db, "Sales Leads")
    assert flt.campaign.title != "Sales Leads"
    moved = channels.update_filter(
        flt.id, FilterData(flt.field, flt.match, flt.keyword, leads.id, flt.enabled)
    )
    assert moved.campaign == CampaignRef(leads.id, "Sales Leads")
    retargeted = channels.update_channel(
        sales.id, channel_data(name="Sales mailbox", default_campaign_id=orders.id), sales.version
    )
    assert retargeted.default_campaign == CampaignRef(orders.id, "Orders")
    assert retargeted.filters == channels.get_channel(sales.id).filters


# ---- roles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda db, a: CampaignService(db, a).create_group("Nope"),
        lambda db, a: CampaignService(db, a).create_campaign(CampaignData("Nope", None)),
        lambda db, a: TemplateService(db, a).create_template("Nope", "s", "b"),
        lambda db, a: PeopleService(db, a).create_team(TeamData("Nope")),
        lambda db, a: ChannelService(db, a).create_channel(channel_data()),
        lambda db, a: SettingsService(db, a).update(SettingsData("Nope", "UTC")),
    ],
)
def test_an_agent_may_not_change_configuration(demo_db, agent, call):
    with pytest.raises(PermissionDenied) as info:
        call(demo_db, agent)
    assert "Alice Agent (Agent) may not" in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda db, a: PeopleService(db, a).create_team(TeamData("Nope")),
        lambda db, a: PeopleService(db, a).create_user(UserData("nope", "Nope"), "password1"),
        lambda db, a: ChannelService(db, a).create_channel(channel_data()),
        lambda db, a: SettingsService(db, a).update(SettingsData("Nope", "UTC")),
    ],
)
def test_a_supervisor_may_not_administer(demo_db, supervisor, call):
    with pytest.raises(PermissionDenied):
        call(demo_db, supervisor)


def test_anyone_may_change_their_own_password(demo_db, agent):
    assert isinstance(agent, Actor) and agent.user_id is not None
    PeopleService(demo_db, agent).set_password(agent.user_id, "my-own-password")
    assert sign_in_as(demo_db, "alice", "my-own-password").login == "alice"
    with pytest.raises(PermissionDenied):
        PeopleService(demo_db, agent).set_password(agent.user_id + 1, "someone-else")
