"""Maven answers to refusals: a status, a plain-text body, and the message as the reason phrase
(Maven and Gradle show the status line of a failed transfer, not its body)."""

from __future__ import annotations

from registry.reason_errors import ReasonPhraseError


class MavenError(ReasonPhraseError):
    pass


def invalid(message: str) -> MavenError:
    return MavenError(400, message)


def not_found(what: str) -> MavenError:
    return MavenError(404, f"{what} not found")


def package_unknown(workspace: str, package_name: str) -> MavenError:
    # Also the answer to a caller who may not read the package: it must not tell them it exists.
    return MavenError(
        404,
        f"Maven package {workspace}/{package_name} not found. If it is yours, create it and link it to a "
        f"repository first: packages-registry package create {workspace}/{package_name} --type maven "
        f"--repository {workspace}/<repository> (or the Create package page)",
    )


def unauthorized(realm: str, message: str = "authentication required") -> MavenError:
    return MavenError(401, message, {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})


def denied(message: str) -> MavenError:
    return MavenError(403, message)


def conflict(message: str) -> MavenError:
    return MavenError(409, message)
