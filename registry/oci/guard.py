"""Who may do what on a container repository, answered the OCI way.

Handlers declare the right they need; this module authenticates, asks the
one access controller, narrows by the bearer token's grant, and turns a
refusal into the right OCI answer: 401 with a Bearer challenge (anonymous,
bad credentials, or a token that lacks the scope), 404 NAME_UNKNOWN when
the caller may not even read the package (exactly as if it did not exist),
403 DENIED when they may read but not do this.
"""

from __future__ import annotations

from aiohttp import web

from registry.access.authn import AuthenticationFailed, Caller, authenticate
from registry.access.models import Package, Right, limit_reason
from registry.context import Services
from registry.httputil import external_base
from registry.oci import errors
from registry.oci.errors import OciError

CONTAINER = "container"
TOKEN_PATH = "/auth/token"

# The docker scope action that carries each right.
ACTION_FOR = {Right.READ: "pull", Right.WRITE: "push", Right.ADMIN: "delete"}
SCOPE_ACTIONS = {Right.READ: "pull", Right.WRITE: "pull,push", Right.ADMIN: "pull,push,delete"}


def challenge(request: web.Request, svc: Services, scope: str | None, error: str | None = None,
              message: str = "authentication required") -> OciError:
    realm = external_base(request, svc.settings.public_url) + TOKEN_PATH
    value = f'Bearer realm="{realm}",service="{svc.settings.service}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return OciError("UNAUTHORIZED", message, 401, headers={"WWW-Authenticate": value})


async def caller_of(request: web.Request, svc: Services, scope: str | None) -> Caller:
    try:
        return await authenticate(request, svc.access, svc.tokens)
    except AuthenticationFailed as exc:
        raise challenge(request, svc, scope, message=str(exc)) from None


def split_name(name: str) -> tuple[str, str]:
    workspace, sep, image = name.partition("/")
    if not sep:
        raise errors.name_invalid("a repository name is <workspace>/<image>")
    return workspace, image


def token_allows(caller: Caller, name: str, need: Right) -> bool:
    if caller.grant is None:  # Basic credentials: the controller alone decides
        return True
    return caller.grant.allows("repository", name, ACTION_FOR[need]) or caller.grant.allows("repository", name, "*")


async def authorize(request: web.Request, svc: Services, name: str, need: Right) -> tuple[Package | None, Caller]:
    """The package behind ``name`` if the caller may do ``need`` on it.

    Returns (None, caller) only for a write to a package that does not exist yet and that the
    server may create for the caller (``--auto-create`` with a pipeline token of that workspace).
    """
    scope = f"repository:{name}:{SCOPE_ACTIONS[need]}"
    caller = await caller_of(request, svc, scope)
    if caller.principal.is_anonymous:
        raise challenge(request, svc, scope)
    workspace, image = split_name(name)
    package = await svc.access.get_package(workspace, CONTAINER, image)
    right = await svc.controller.right(caller.principal, package)
    if package is None or right < Right.READ:
        if package is None and need >= Right.WRITE and may_auto_create(svc, caller, workspace) \
                and token_allows(caller, name, Right.WRITE):
            return None, caller
        raise errors.name_unknown(name)
    if right >= need:
        if token_allows(caller, name, need):
            return package, caller
        raise challenge(request, svc, scope, "insufficient_scope", "the token was not granted this action")
    raise errors.denied(
        f"requested access to {name} is denied: it is linked to repository {package.repository}, "
        f"and {limit_reason(caller.principal, right, need)}"
    )


def may_auto_create(svc: Services, caller: Caller, workspace: str) -> bool:
    principal = caller.principal
    return svc.settings.auto_create and principal.kind == "pipeline" and principal.workspace == workspace
