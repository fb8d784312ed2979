"""The product's enumerations: domain values, not persistence. The models store them
(app.db.models), screens show them, and code that does not touch the database (the IMAP
session, the command line's options) uses them without importing SQLAlchemy, which takes a
fifth of a second to import."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Security(enum.StrEnum):
    SSL = "ssl"
    STARTTLS = "starttls"
    NONE = "none"

    @property
    def label(self) -> str:
        return {"ssl": "SSL/TLS", "starttls": "STARTTLS", "none": "None"}[self.value]


class AfterRetrieval(enum.StrEnum):
    DELETE = "delete"
    MARK_READ = "mark_read"
    MOVE = "move"

    @property
    def label(self) -> str:
        return {
            "delete": "Delete from server",
            "mark_read": "Mark as read",
            "move": "Move to folder",
        }[self.value]


class FilterField(enum.StrEnum):
    SENDER = "sender"
    SUBJECT = "subject"
    BODY = "body"
    RECIPIENTS = "recipients"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class FilterMatch(enum.StrEnum):
    CONTAINS = "contains"
    EQUALS = "equals"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    REGEX = "regex"

    @property
    def label(self) -> str:
        return {
            "contains": "contains",
            "equals": "equals",
            "starts_with": "starts with",
            "ends_with": "ends with",
            "regex": "regular expression",
        }[self.value]


class EmailStatus(enum.StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    DRAFT = "draft"
    ACTIONED = "actioned"
    QUARANTINED = "quarantined"


class ReplyState(enum.StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
