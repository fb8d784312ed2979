"""Email templates: name, subject, body with placeholders, preview."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.db.models import CampaignTemplate, Template
from app.services import placeholders
from app.services import validation as v
from app.services.auth import Permission
from app.services.base import Service, check_version, ensure_unique, get_or_404
from app.services.records import CampaignRef, TemplateRecord

# a template's campaigns, loaded with it
_CAMPAIGNS = selectinload(Template.campaign_links).selectinload(CampaignTemplate.campaign)

NAME = "Template Name"
SUBJECT = "Email Subject"
BODY = "Body"
HTML_BODY = "HTML Body"


def template_record(t: Template) -> TemplateRecord:
    """(its campaign links loaded, or loadable in its session)"""
    campaigns = sorted((link.campaign for link in t.campaign_links), key=lambda c: c.title)
    return TemplateRecord(
        id=t.id,
        name=t.name,
        subject=t.subject,
        body=t.body,
        body_html=t.body_html,
        created_at=t.created_at,
        version=t.version,
        campaigns=tuple(CampaignRef(c.id, c.title) for c in campaigns),
    )


class TemplateService(Service):
    def list_templates(self) -> list[TemplateRecord]:
        with self.read() as s:
            return [
                template_record(t)
                for t in s.scalars(select(Template).options(_CAMPAIGNS).order_by(Template.name))
            ]

    def get_template(self, template_id: int) -> TemplateRecord:
        with self.read() as s:
            template = s.scalar(
                select(Template).where(Template.id == template_id).options(_CAMPAIGNS)
            )
            found = get_or_404(s, Template, template.id if template else None, "email template")
            return template_record(found)

    def _apply(
        self, template: Template, name: str, subject: str, body: str, body_html: str | None
    ) -> None:
        template.name = v.text(NAME, name)
        template.subject = v.text(SUBJECT, subject, max_length=500)
        placeholders.check(SUBJECT, template.subject)
        placeholders.check(BODY, body)
        html = (body_html or "").strip() or None
        if html:
            placeholders.check(HTML_BODY, html)
        template.body = body
        template.body_html = html

    def create_template(
        self, name: str, subject: str, body: str, body_html: str | None = None
    ) -> TemplateRecord:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email template") as s:
            template = Template()
            self._apply(template, name, subject, body, body_html)
            ensure_unique(s, Template, Template.name, template.name, NAME, None)
            s.add(template)
            s.flush()
            return template_record(template)

    def update_template(
        self,
        template_id: int,
        name: str,
        subject: str,
        body: str,
        body_html: str | None,
        expected_version: int | None,
    ) -> TemplateRecord:
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email template") as s:
            template = get_or_404(s, Template, template_id, "email template")
            check_version(template, expected_version, f"Email template '{template.name}'")
            self._apply(template, name, subject, body, body_html)
            ensure_unique(s, Template, Template.name, template.name, NAME, template_id)
            s.flush()
            return template_record(template)

    def delete_template(self, template_id: int) -> None:
        """Deletes the template and its campaign assignments (the UI names them first)."""
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email template") as s:
            s.delete(get_or_404(s, Template, template_id, "email template"))

    @staticmethod
    def preview(text: str) -> str:
        return placeholders.render(text, placeholders.SAMPLE_VALUES)
