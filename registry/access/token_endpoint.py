"""The Docker token endpoint: trades Basic credentials or a refresh token for a bearer token.

Grant = what was asked ∩ what the principal may do; asking for more than is
allowed is not an error, the token simply carries less (as the Docker token
spec says).
"""

from __future__ import annotations

import time

from aiohttp import web

from registry.access.authn import AuthenticationFailed, basic_principal, parse_basic
from registry.access.jwt_tokens import InvalidToken
from registry.access.models import ANONYMOUS, Principal, Right
from registry.context import Services, services
from vocab.names import is_valid_name

CONTAINER = "container"
# "delete" takes write: a writer may delete a tag. Deleting a manifest by digest still takes the admin
# role, which the access controller checks on the request itself (registry/oci/routes.py).
RIGHT_OF_ACTION = {"pull": Right.READ, "push": Right.WRITE, "delete": Right.WRITE}


def parse_scopes(values: list[str]) -> list[tuple[str, str, list[str]]]:
    """``repository:ws/app:pull,push`` entries (several per value, space-separated) -> (type, name, actions)."""
    parsed = []
    for value in values:
        for item in value.split():
            resource_type, sep, rest = item.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not sep or not sep2:
                continue
            resource_type = resource_type.split("(", 1)[0]  # "repository(plugin)" -> "repository"
            parsed.append((resource_type, name, [a for a in actions.split(",") if a]))
    return parsed


async def grant(svc: Services, principal: Principal, scopes: list[tuple[str, str, list[str]]]) -> list[dict]:
    access = []
    for resource_type, name, actions in scopes:
        granted: list[str] = []
        if resource_type == "registry" and name == "catalog":
            granted = ["*"] if not principal.is_anonymous else []
        elif resource_type == "repository" and is_valid_name(name) and "/" in name:
            workspace, image = name.split("/", 1)
            package = await svc.access.get_package(workspace, CONTAINER, image)
            if package is None:
                if (svc.settings.auto_create and principal.kind == "pipeline"
                        and principal.workspace == workspace):
                    right = Right.WRITE
                else:
                    right = Right.NONE
            else:
                right = await svc.controller.right(principal, package)
            wanted = list(RIGHT_OF_ACTION) if "*" in actions else actions
            granted = [a for a in wanted if a in RIGHT_OF_ACTION and right >= RIGHT_OF_ACTION[a]]
        if granted:
            access.append({"type": resource_type, "name": name, "actions": granted})
    return access


def _error(status: int, message: str) -> web.Response:
    # Docker's token errors use the registry's error JSON too.
    return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": message}]}, status=status,
                             headers={"WWW-Authenticate": 'Basic realm="packages-registry"'} if status == 401 else {})


async def _respond(svc: Services, principal: Principal, audience: str, scopes: list[str], offline: bool,
                   refresh_token: str | None = None) -> web.Response:
    access = await grant(svc, principal, parse_scopes(scopes))
    token, ttl = svc.tokens.issue_access(principal, audience, access)
    body = {"token": token, "access_token": token, "expires_in": ttl,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if refresh_token:
        body["refresh_token"] = refresh_token  # clients that refreshed expect it back
    elif offline and not principal.is_anonymous:
        body["refresh_token"] = svc.tokens.issue_refresh(principal, audience)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def get_token(request: web.Request) -> web.Response:
    svc = services(request)
    audience = request.query.get("service", svc.settings.service)
    header = request.headers.get("Authorization", "")
    try:
        basic = parse_basic(header) if header else None
        if basic is None:
            if header:
                return _error(401, "the token endpoint takes Basic credentials")
            principal = ANONYMOUS
        else:
            principal = await basic_principal(svc.access, *basic)
    except AuthenticationFailed as exc:
        return _error(401, str(exc))
    offline = request.query.get("offline_token", "").lower() == "true"
    return await _respond(svc, principal, audience, request.query.getall("scope", []), offline)


async def post_token(request: web.Request) -> web.Response:
    svc = services(request)
    try:
        form = await request.post()
    except (ValueError, AssertionError):  # not UTF-8, or multipart without a boundary
        return web.json_response({"error": "invalid_request", "error_description": "the form could not be read"},
                                 status=400)
    audience = str(form.get("service", svc.settings.service))
    grant_type = form.get("grant_type")
    try:
        if grant_type == "password":
            principal = await basic_principal(svc.access, str(form.get("username", "")),
                                              str(form.get("password", "")))
        elif grant_type == "refresh_token":
            try:
                principal, _ = svc.tokens.verify(str(form.get("refresh_token", "")), kind="refresh")
            except InvalidToken:
                raise AuthenticationFailed("invalid or expired refresh token") from None
            if principal.credential_id is None or not await svc.access.credential_is_live(principal.credential_id):
                raise AuthenticationFailed("the token this refresh token was issued for is expired or revoked")
        else:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
    except AuthenticationFailed as exc:
        return _error(401, str(exc))
    scopes = [str(value) for value in form.getall("scope", [])]
    offline = form.get("access_type") == "offline"
    refresh = str(form.get("refresh_token")) if grant_type == "refresh_token" else None
    return await _respond(svc, principal, audience, scopes, offline, refresh)


def setup(app: web.Application) -> None:
    app.router.add_get("/auth/token", get_token)
    app.router.add_post("/auth/token", post_token)
