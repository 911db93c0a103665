"""Failure messages shared by the package types: who the credentials are, and what to do about a refusal."""

from __future__ import annotations

from typing import Protocol

from pipe.oci.auth import Credentials
from pipe.oci.errors import AccessDenied, AuthenticationFailed, RegistryError, RegistryUnavailable
from vocab.scopes import SCOPE_READ, SCOPE_WRITE


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
    detail = sentence(exc.detail or "")
    if settings.credentials_kind == "pipeline":
        advice = ("A pipeline token can publish only packages linked to its own repository: link the package to "
                  "that repository, or use ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN of a user with write "
                  "access to the repository the package is linked to.")
    elif SCOPE_WRITE in (exc.detail or "") and "lacks" in (exc.detail or ""):
        advice = (f"The API token lacks the scope {SCOPE_WRITE}, so it can only read: create an API token with the "
                  f"scopes {SCOPE_READ} and {SCOPE_WRITE} and use it as ATLASSIAN_API_TOKEN.")
    else:
        advice = (f"Pushing needs write access to the repository the package is linked to, and an API token with "
                  f"the scope {SCOPE_WRITE}: if the user has write access there, the token lacks that scope "
                  "(create one with it); otherwise ask an admin of that repository for write access.")
    return " ".join(part for part in (f"{what} was denied.", detail, f"The credentials are {who(settings)}.", advice)
                    if part)


def not_created(settings: Identity, kind: str, name: str, workspace: str, where: str) -> str:
    repository = settings.pipeline_repository or f"{workspace}/<repository>"
    create = (f"create it and link it to a repository: on the workspace's Packages page (Create package), or on a "
              f"bundled registry with `packages-registry package create {workspace}/{name} --type {kind} "
              f"--repository {repository}`.")
    if settings.credentials_kind == "pipeline":
        own = f" ({settings.pipeline_repository})" if settings.pipeline_repository else ""
        return (f"The {kind} package {name} was not found in {where} with {who(settings)}. It may not exist, or it "
                f"may exist but be linked to another repository: pipeline tokens reach only the packages linked "
                f"to their own repository{own}. If it is linked to another repository, use ATLASSIAN_ACCOUNT_EMAIL "
                f"and ATLASSIAN_API_TOKEN of a user with write access there instead. If it does not exist, {create}")
    return (f"The {kind} package {name} does not exist in {where}, or the credentials ({who(settings)}) cannot "
            f"see it (the user needs access to the repository it is linked to). If it does not exist, {create}")


def sentence(text: str) -> str:
    """A server's detail as a sentence of the message: capitalised, with its full stop."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def unreachable(exc: RegistryUnavailable, where: str, variable: str) -> str:
    return (f"{where} is unreachable: it could not be reached or kept failing after retries ({exc.message}). "
            f"Check {variable}, and try again later.")


def generic(exc: RegistryError, what: str) -> str:
    return f"{what} failed: {exc.message}"
