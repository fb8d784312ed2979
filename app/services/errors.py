"""Errors the services raise: each says what is wrong in words a user understands."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error meant to be shown to the user as it is."""


class ValidationError(ServiceError):
    """Bad input: names the field (its label as the user sees it) and the problem."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConflictError(ServiceError):
    """Someone else changed or removed the record since it was opened."""


class PermissionDenied(ServiceError):
    """The signed-in user's role does not allow the operation."""


class NotFound(ServiceError):
    """The record no longer exists."""


class AuthenticationError(ServiceError):
    """Wrong login or password."""
