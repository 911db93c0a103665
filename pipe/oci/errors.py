"""Typed errors of the OCI client. Messages never contain credentials."""

from __future__ import annotations


class RegistryError(Exception):
    """The registry answered something we cannot go on from."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None,
                 detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail  # the registry's own message, when it gave one


class RegistryUnavailable(RegistryError):
    """Connection errors, 5xx or 429 that outlasted the retries."""


class AuthenticationFailed(RegistryError):
    """The credentials were refused (401), or none were given and the registry wants some."""


class AccessDenied(RegistryError):
    """Authenticated, but not allowed (403 DENIED)."""


class NameUnknown(RegistryError):
    """The repository (package) does not exist, or the credentials cannot see it (404 NAME_UNKNOWN)."""


class UploadFailed(RegistryError):
    """A blob upload could not be completed (digest refused, session lost beyond recovery)."""


class InvalidReference(ValueError):
    """A registry URL or image reference that cannot be used."""
