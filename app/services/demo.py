"""The demo organisation: a believable contact centre to explore the product with."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db.engine import Database
from app.db.models import AfterRetrieval, Role, Security, User
from app.services.auth import SYSTEM
from app.services.campaigns import CampaignData, CampaignService
from app.services.channels import ChannelData, ChannelService, FilterData
from app.services.errors import ValidationError
from app.services.people import PeopleService, TeamData, UserData
from app.services.settings import SettingsData, SettingsService
from app.services.templates import TemplateService

DEMO_PASSWORD = "demo-password"

USERS = [
    ("admin", "Ada Administrator", "admin@example.com", Role.ADMINISTRATOR, []),
    ("sam", "Sam Supervisor", "sam@example.com", Role.SUPERVISOR, ["Front Line", "Escalations"]),
    ("alice", "Alice Agent", "alice@example.com", Role.AGENT, ["Front Line"]),
    ("bob", "Bob Agent", "bob@example.com", Role.AGENT, ["Front Line", "Sales Desk"]),
    ("jurgen", "Jürgen Größe", "juergen@example.com", Role.AGENT, ["Escalations"]),
    ("akiko", "山田 明子", "akiko@example.com", Role.AGENT, ["Sales Desk"]),
]

TEMPLATES = [
    (
        "Order status",
        "Re: {{ email.subject }}",
        "Dear {{ customer.name }},\n\nThank you for contacting {{ organisation.name }} about "
        "your order. It left our warehouse today and should reach you within 3 working days."
        "\n\nKind regards,\n{{ agent.name }}\n{{ campaign.title }}",
    ),
    (
        "Return instructions",
        "Your return – {{ email.subject }}",
        "Dear {{ customer.name }},\n\nPlease print the attached label and drop the parcel at "
        "any post office within 30 days.\n\nKind regards,\n{{ agent.name }}",
    ),
    (
        "Refund confirmed",
        "Refund confirmed",
        "Dear {{ customer.name }},\n\nYour refund has been approved and will appear on your "
        "statement within 5 working days.\n\n{{ agent.name }}, {{ organisation.name }}",
    ),
    (
        "Acknowledgement",
        "We received your email: {{ email.subject }}",
        "Dear {{ customer.name }},\n\nWe received your email of {{ email.received }} and will "
        "answer within one working day.\n\n{{ organisation.name }}",
    ),
    (
        "Sales follow-up",
        "Your enquiry about {{ email.subject }}",
        "Hello {{ customer.name }},\n\nThank you for your interest. I have attached our price "
        "list; reply to {{ channel.address }} with any question.\n\n{{ agent.name }}",
    ),
    (
        "Rückfrage (Deutsch)",
        "Ihre Anfrage – {{ email.subject }}",
        "Guten Tag {{ customer.name }},\n\nvielen Dank für Ihre Nachricht. Können Sie uns bitte "
        "Ihre Bestellnummer nennen?\n\nMit freundlichen Grüßen\n{{ agent.name }}",
    ),
    (
        "Escalation notice",
        "Your case has been escalated",
        "Dear {{ customer.name }},\n\nA senior member of our team will contact you today.\n\n"
        "{{ agent.name }} – {{ campaign.title }}",
    ),
]

CAMPAIGNS = [
    # title, group, free format, confirm, put back, move, draft, period, teams, templates
    (
        "Orders",
        "Orders & Returns",
        False,
        True,
        True,
        True,
        True,
        180,
        ["Front Line"],
        ["Order status", "Acknowledgement", "Rückfrage (Deutsch)"],
    ),
    (
        "Returns",
        "Orders & Returns",
        False,
        True,
        True,
        False,
        True,
        300,
        ["Front Line", "Escalations"],
        ["Return instructions", "Refund confirmed"],
    ),
    (
        "General Enquiries",
        "Customer Service",
        True,
        False,
        True,
        True,
        False,
        3600,
        ["Front Line"],
        ["Acknowledgement"],
    ),
    (
        "Complaints",
        "Customer Service",
        True,
        True,
        False,
        False,
        True,
        900,
        ["Escalations"],
        ["Escalation notice", "Acknowledgement"],
    ),
    (
        "Sales Leads",
        "Sales",
        True,
        False,
        True,
        True,
        True,
        600,
        ["Sales Desk"],
        ["Sales follow-up"],
    ),
    (
        "Größe – 5 € Aktion",
        "Sales",
        False,
        True,
        True,
        False,
        False,
        240,
        ["Sales Desk"],
        ["Rückfrage (Deutsch)", "Sales follow-up"],
    ),
]


def has_data(db: Database) -> bool:
    with db.session() as s:
        return bool(s.scalar(select(func.count()).select_from(User)))


def seed(db: Database) -> None:
    """Fill an empty database with the demo organisation."""
    if has_data(db):
        raise ValidationError("database", "already has users; the demo needs an empty database.")
    campaigns = CampaignService(db, SYSTEM)
    people = PeopleService(db, SYSTEM)
    templates = TemplateService(db, SYSTEM)
    channels = ChannelService(db, SYSTEM)

    service = campaigns.create_group("Customer Service", "Everything customers write to us about")
    orders = campaigns.create_group(
        "Orders & Returns", "Order progress, returns and refunds", service.id
    )
    sales = campaigns.create_group("Sales", "New business")
    group_ids = {g.name: g.id for g in (service, orders, sales)}

    team_ids = {}
    for name, description, public in (
        ("Front Line", "First answer to every customer", True),
        ("Escalations", "Complaints and difficult cases", False),
        ("Sales Desk", "Quotes and new customers", True),
    ):
        team_ids[name] = people.create_team(TeamData(name, description, public)).id

    for login, display, email, role, teams in USERS:
        user = people.create_user(
            UserData(login, display, email, role, True, [team_ids[t] for t in teams]),
            DEMO_PASSWORD,
        )
        with db.session() as s:
            s.get_one(User, user.id).is_demo = True

    template_ids = {
        name: templates.create_template(name, subject, body).id for name, subject, body in TEMPLATES
    }
    campaign_ids = {}
    for title, group, free, confirm, put_back, move, draft, period, teams, assigned in CAMPAIGNS:
        campaign = campaigns.create_campaign(
            CampaignData(
                title=title,
                group_id=group_ids[group],
                description=f"Emails about {title.lower()}",
                allow_free_format=free,
                require_address_confirmation=confirm,
                allow_put_back=put_back,
                allow_move=move,
                allow_draft=draft,
                service_level_period=period,
                team_ids=[team_ids[t] for t in teams],
            )
        )
        campaign_ids[title] = campaign.id
        for name in assigned:
            campaigns.add_template(campaign.id, template_ids[name])

    support = channels.create_channel(
        ChannelData(
            name="Support mailbox",
            email_address="support@example.com",
            display_name="Example Retail Support",
            default_campaign_id=campaign_ids["General Enquiries"],
            imap_host="imap.example.com",
            imap_security=Security.SSL,
            imap_username="support@example.com",
            after_retrieval=AfterRetrieval.MARK_READ,
            smtp_host="smtp.example.com",
            smtp_username="support@example.com",
        )
    )
    for field, match, keyword, target in (
        ("subject", "contains", "order", "Orders"),
        ("subject", "regex", r"\b(return|refund|Rücksendung)\b", "Returns"),
        ("body", "contains", "complaint", "Complaints"),
        ("sender", "ends_with", "@partner.example.org", "Sales Leads"),
    ):
        channels.add_filter(support.id, FilterData(field, match, keyword, campaign_ids[target]))
    sales_channel = channels.create_channel(
        ChannelData(
            name="Sales mailbox",
            email_address="sales@example.com",
            display_name="Example Retail Sales",
            default_campaign_id=campaign_ids["Sales Leads"],
            imap_host="imap.example.com",
            imap_username="sales@example.com",
            smtp_host="smtp.example.com",
            smtp_username="sales@example.com",
        )
    )
    channels.add_filter(
        sales_channel.id,
        FilterData("subject", "contains", "Aktion", campaign_ids["Größe – 5 € Aktion"]),
    )
    SettingsService(db, SYSTEM).update(
        SettingsData(
            name="Example Retail",
            timezone="Australia/Sydney",
            default_channel_id=support.id,
        )
    )
