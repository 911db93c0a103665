"""Authentication of HTTP requests: Basic (user or pipeline + token) and Bearer (our JWTs).

Every protocol calls :func:`authenticate`; each turns a failure into its own
error format.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from aiohttp import web

from registry.access.jwt_tokens import Grant, InvalidToken, TokenService
from registry.access.models import ANONYMOUS, Principal
from registry.access.store import AccessStore


class AuthenticationFailed(Exception):
    """Credentials were sent but are not valid. The message is safe to show (it has no secret)."""


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    grant: Grant | None = None  # set for bearer tokens: what the token endpoint granted
    scheme: str = ""  # "basic", "bearer", "session" or "" (anonymous)


ANONYMOUS_CALLER = Caller(ANONYMOUS)


def parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationFailed("malformed Basic credentials")
    return username, password


async def basic_principal(store: AccessStore, username: str, password: str) -> Principal:
    principal = await store.authenticate(username, password)
    if principal is None:
        raise AuthenticationFailed("invalid username or token (or the token expired or was revoked)")
    return principal


async def authenticate(request: web.Request, store: AccessStore, tokens: TokenService) -> Caller:
    header = request.headers.get("Authorization", "")
    if not header:
        return ANONYMOUS_CALLER
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        try:
            principal, grant = tokens.verify(value.strip())
        except InvalidToken:
            raise AuthenticationFailed("invalid or expired bearer token") from None
        if principal.credential_id is None or not await store.credential_is_live(principal.credential_id):
            raise AuthenticationFailed("the token this bearer token was issued for is expired or revoked")
        return Caller(principal, grant, "bearer")
    basic = parse_basic(header)
    if basic is None:
        raise AuthenticationFailed(f"unsupported authorization scheme {scheme[:20]!r}")
    return Caller(await basic_principal(store, *basic), None, "basic")
