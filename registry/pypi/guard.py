"""Who may do what on a PyPI project, answered the way pip, twine, uv and Poetry expect.

pip sends credentials only after a 401 with a Basic challenge, so anonymous requests get one.
Credentials are Basic: an email (or the pipeline username) with its token, or the username
``__token__`` with an API or pipeline token as the password, as twine, uv and Poetry send a token.
A caller who may not read a project gets exactly the answer for a project that does not exist;
one who may read but not write gets 403.
"""

from __future__ import annotations

from aiohttp import web

from registry import audit
from registry.access.authn import AuthenticationFailed, Caller, parse_basic
from registry.access.models import Package, Right, limit_reason
from registry.access.store import NameReserved
from registry.context import Services
from registry.pypi import errors

PYPI = "pypi"
TOKEN_USERNAME = "__token__"
_RIGHT_WORDS = {Right.READ: "read", Right.WRITE: "upload to", Right.ADMIN: "administer"}


async def caller_of(request: web.Request, svc: Services) -> Caller:
    realm = svc.settings.service
    header = request.headers.get("Authorization", "")
    if not header:
        raise errors.unauthorized(realm)
    try:
        basic = parse_basic(header)
        if basic is None:
            raise AuthenticationFailed("the PyPI index takes Basic credentials: username and token")
        username, secret = basic
        if username == TOKEN_USERNAME:
            principal = await svc.access.authenticate_secret(secret)
        else:
            principal = await svc.access.authenticate(username, secret)
        if principal is None:
            raise AuthenticationFailed("invalid username or token (or the token expired or was revoked)")
    except AuthenticationFailed as exc:
        raise errors.unauthorized(realm, str(exc)) from None
    return Caller(principal, None, "basic")


def may_auto_create(svc: Services, caller: Caller, workspace: str) -> bool:
    principal = caller.principal
    return svc.settings.auto_create and principal.kind == "pipeline" and principal.workspace == workspace


async def authorize(request: web.Request, svc: Services, workspace: str, project: str, need: Right,
                    caller: Caller | None = None) -> tuple[Package, Caller]:
    """The project's package if the caller may do ``need`` on it (an upload by a pipeline token of
    the workspace creates it when the server runs with ``--auto-create``)."""
    caller = caller or await caller_of(request, svc)
    package = await svc.access.get_package(workspace, PYPI, project)
    right = await svc.controller.right(caller.principal, package)
    if package is None and need >= Right.WRITE and may_auto_create(svc, caller, workspace):
        assert caller.principal.repository_id is not None
        try:
            package = await svc.access.ensure_package(workspace, project, PYPI, caller.principal.repository_id)
        except NameReserved as exc:  # a deleted project's name, kept for its retention period
            raise errors.denied(str(exc)) from None
        await audit.record_request(request, "create", principal=caller.principal, package=package,
                                   detail="created by an upload (--auto-create)")
        right = await svc.controller.right(caller.principal, package)
    if package is None or right < Right.READ:
        raise errors.project_unknown(workspace, project)
    if right < need:
        raise errors.denied(
            f"you may not {_RIGHT_WORDS[need]} {workspace}/{project}: it is linked to repository "
            f"{package.repository}, and {limit_reason(caller.principal, right, need)}"
        )
    return package, caller
