"""Who may do what on an npm package, answered the npm way.

npm sends ``Authorization: Bearer <token>`` for an ``_authToken`` and ``Basic`` for ``_auth`` or
``username`` + ``_password``. A bare API token or pipeline token is accepted as a Bearer token;
the registry's own JWTs (docker token endpoint grants) are not, they carry container grants.
Handlers declare the right they need; the one access controller decides. A caller who may not
read a package gets exactly the answer for a package that does not exist.
"""

from __future__ import annotations

from aiohttp import web

from registry.access import secrets
from registry.access.authn import ANONYMOUS_CALLER, AuthenticationFailed, Caller, basic_principal, parse_basic
from registry.access.models import Package, Right, limit_reason
from registry.context import Services
from registry.npm import errors

NPM = "npm"
_RIGHT_WORDS = {Right.READ: "read", Right.WRITE: "publish to", Right.ADMIN: "administer"}


async def caller_of(request: web.Request, svc: Services) -> Caller:
    header = request.headers.get("Authorization", "")
    if not header:
        return ANONYMOUS_CALLER
    try:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
            principal = None
            if token.startswith((secrets.API_TOKEN_PREFIX, secrets.PIPELINE_TOKEN_PREFIX)):
                principal = await svc.access.authenticate_secret(token)
            if principal is None:
                raise AuthenticationFailed("invalid token (or the token expired or was revoked)")
            return Caller(principal, None, "bearer")
        basic = parse_basic(header)
        if basic is None:
            raise AuthenticationFailed(f"unsupported authorization scheme {scheme[:20]!r}")
        return Caller(await basic_principal(svc.access, *basic), None, "basic")
    except AuthenticationFailed as exc:
        raise errors.unauthorized(str(exc)) from None


async def authenticated(request: web.Request, svc: Services) -> Caller:
    caller = await caller_of(request, svc)
    if caller.principal.is_anonymous:
        raise errors.unauthorized()
    return caller


def may_auto_create(svc: Services, caller: Caller, workspace: str) -> bool:
    principal = caller.principal
    return svc.settings.auto_create and principal.kind == "pipeline" and principal.workspace == workspace


async def authorize(request: web.Request, svc: Services, workspace: str, name: str, need: Right,
                    create: bool = False) -> tuple[Package | None, Caller]:
    """The package if the caller may do ``need`` on it.

    (None, caller) only when ``create`` is asked (a publish) for a package that does not exist yet and
    that the server may create for the caller (``--auto-create`` with a pipeline token of that
    workspace). Anything else on a package that does not exist is "not found".
    """
    caller = await authenticated(request, svc)
    package = await svc.access.get_package(workspace, NPM, name)
    right = await svc.controller.right(caller.principal, package)
    if package is None or right < Right.READ:
        if package is None and create and may_auto_create(svc, caller, workspace):
            return None, caller
        raise errors.package_not_found(workspace, name)
    if right < need:
        raise errors.forbidden(
            f"you may not {_RIGHT_WORDS[need]} {name}: it is linked to repository {package.repository}, "
            f"and {limit_reason(caller.principal, right, need)}"
        )
    return package, caller
