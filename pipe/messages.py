"""Failure messages shared by the package types: who the credentials are, and what to do about a refusal."""

from __future__ import annotations

from typing import Protocol

from pipe.oci.auth import Credentials
from pipe.oci.errors import AccessDenied, AuthenticationFailed, RegistryError, RegistryUnavailable


class Identity(Protocol):
    credentials: Credentials
    credentials_kind: str
    pipeline_repository: str | None


def who(settings: Identity) -> str:
    if settings.credentials_kind == "pipeline":
        scope = f" of repository {settings.pipeline_repository}" if settings.pipeline_repository else ""
        return f"the pipeline token{scope} (BITBUCKET_PACKAGES_USERNAME {settings.credentials.username})"
    return f"the API token of {settings.credentials.username} (ATLASSIAN_ACCOUNT_EMAIL)"


def refused(exc: AuthenticationFailed, settings: Identity, where: str) -> str:
    return (f"{where} refused the credentials ({who(settings)}). "
            + ("A pipeline token is valid only while its pipeline runs. " if settings.credentials_kind == "pipeline"
               else "Check that the API token is not expired or revoked and has the scopes read:package:bitbucket "
                    "and write:package:bitbucket. ")
            + (f"Server said: {exc.detail}" if exc.detail else "")).strip()


def denied(exc: AccessDenied, settings: Identity, what: str) -> str:
    return (f"{what} was denied. {exc.detail or ''} The credentials are {who(settings)}. "
            + ("A pipeline token can publish only packages linked to its own repository: link the package to that "
               "repository, or use ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN of a user with write access to "
               "the repository the package is linked to." if settings.credentials_kind == "pipeline" else
               "Ask an admin of the repository the package is linked to for write access.")).replace("  ", " ")


def not_created(settings: Identity, kind: str, name: str, workspace: str, where: str) -> str:
    repository = settings.pipeline_repository or f"{workspace}/<repository>"
    return (f"The {kind} package {name} does not exist in {where}, or the credentials ({who(settings)}) cannot "
            f"see it. Create the package and link it to a repository first: on the workspace's Packages page "
            f"(Create package), or on a bundled registry with `packages-registry package create "
            f"{workspace}/{name} --type {kind} --repository {repository}`."
            + (f" A pipeline token sees only packages linked to {settings.pipeline_repository}."
               if settings.credentials_kind == "pipeline" and settings.pipeline_repository else ""))


def unreachable(exc: RegistryUnavailable, where: str, variable: str) -> str:
    return (f"{where} is unreachable: it could not be reached or kept failing after retries ({exc.message}). "
            f"Check {variable}, and try again later.")


def generic(exc: RegistryError, what: str) -> str:
    return f"{what} failed: {exc.message}"
