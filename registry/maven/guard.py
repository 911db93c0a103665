"""Who may do what on a Maven package, answered the way Maven clients expect.

Maven sends credentials only after a challenge (preemptive auth is off by default), so anonymous
requests get 401 with a Basic challenge. A caller who may not read the package gets exactly the
answer for a package that does not exist; one who may read but not write gets 403.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from registry import audit
from registry.access.authn import AuthenticationFailed, Caller, authenticate
from registry.access.models import Package, Right, limit_reason
from registry.access.store import NOT_REMEMBERED, NameReserved
from registry.context import Services
from registry.maven import errors

MAVEN = "maven"


async def caller_of(request: web.Request, svc: Services) -> Caller:
    realm = svc.settings.service
    try:
        caller = await authenticate(request, svc.access, svc.tokens)
    except AuthenticationFailed as exc:
        raise errors.unauthorized(realm, str(exc)) from None
    if caller.principal.is_anonymous:
        raise errors.unauthorized(realm)
    if caller.grant is not None:
        # Bearer tokens are issued by the container token endpoint for container scopes only.
        raise errors.unauthorized(realm, "the Maven repository takes Basic credentials: username and token")
    return caller


@dataclass(frozen=True, slots=True)
class _Decision:
    """What a set of credentials may do on one package, as remembered between requests."""

    package: Package
    right: Right
    expires_at: float | None  # the credential's own expiry: a remembered decision must not outlive it

    def allows(self, need: Right) -> bool:
        return self.right >= need and (self.expires_at is None or time.time() < self.expires_at)


async def authorize(request: web.Request, svc: Services, workspace: str, package_name: str,
                    need: Right) -> Package:
    """The package if the caller may do ``need`` on it (creating it for an auto-create pipeline deploy).

    A resolver asks for hundreds of files of the same package with the same credentials: a decision
    that allowed is remembered by the access store while the database is unchanged (so a revocation
    or a role change is seen by the very next request), and refusals are always worked out afresh.
    """
    key = (_Decision, request.headers.get("Authorization", ""), workspace, package_name)
    generation = svc.access.moment()
    remembered = svc.access.recall(key)
    if remembered is not NOT_REMEMBERED and remembered.allows(need):  # type: ignore[attr-defined]
        return remembered.package  # type: ignore[attr-defined]
    caller = await caller_of(request, svc)
    package = await svc.access.get_package(workspace, MAVEN, package_name)
    right = await svc.controller.right(caller.principal, package)
    if package is None and need >= Right.WRITE and _may_auto_create(svc, caller, workspace):
        assert caller.principal.repository_id is not None
        try:
            package = await svc.access.ensure_package(workspace, package_name, MAVEN, caller.principal.repository_id)
        except NameReserved as exc:
            raise errors.denied(str(exc)) from None
        await audit.record_request(request, "create", principal=caller.principal, package=package,
                                   detail="created by a deploy (--auto-create)")
        right = await svc.controller.right(caller.principal, package)
    if package is None or right < Right.READ:
        raise errors.package_unknown(workspace, package_name)
    if right < need:
        raise errors.denied(
            f"Maven package {workspace}/{package_name} is linked to repository {package.repository}, "
            f"and {limit_reason(caller.principal, right, need)}"
        )
    svc.access.remember(key, _Decision(package, right, caller.principal.expires_at), generation)
    return package


def _may_auto_create(svc: Services, caller: Caller, workspace: str) -> bool:
    principal = caller.principal
    return svc.settings.auto_create and principal.kind == "pipeline" and principal.workspace == workspace
