"""Who is looking at a page: a session cookie, or the APIs' HTTP Basic credentials (scripts, checks).

Bearer tokens are for the protocols only. A page asked for without credentials sends the browser to
sign in; bad credentials are a 401.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web

from registry.access.authn import AuthenticationFailed, basic_principal, parse_basic
from registry.access.models import Principal
from registry.context import Services
from registry.httputil import external_base
from registry.ui.sessions import Session, SessionStore

SESSION_COOKIE = "packages_session"
SIGNIN_COOKIE = "packages_signin"  # binds the sign-in form's CSRF token before there is a session
CSRF_FIELD = "csrf_token"


class PageError(Exception):
    """An answer other than the page: shown with the error template (or as a redirect)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def not_found() -> PageError:
    # The same words whether the thing is missing or hidden from the viewer.
    return PageError(404, "There is nothing here, or you do not have access to it.")


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    scheme: str  # "session" or "basic"
    csrf_binding: str
    session: Session | None = None

    @property
    def email(self) -> str:
        return self.principal.name if self.principal.kind == "user" else ""


async def viewer_of(request: web.Request, svc: Services, sessions: SessionStore) -> Viewer | None:
    """The signed-in viewer, None when the request carries no credentials at all."""
    header = request.headers.get("Authorization", "")
    if header:
        try:
            basic = parse_basic(header)
            if basic is None:
                raise AuthenticationFailed("pages accept HTTP Basic credentials (email and API token) only")
            principal = await basic_principal(svc.access, *basic)
        except AuthenticationFailed as exc:
            challenge = {"WWW-Authenticate": 'Basic realm="Packages", charset="UTF-8"'}
            raise PageError(401, str(exc), challenge) from None
        return Viewer(principal, "basic", "c:" + (principal.credential_id or principal.name))
    session = await sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    if session is None or not await svc.access.credential_is_live(session.principal.credential_id or ""):
        return None
    return Viewer(session.principal, "session", "s:" + session.id_hash, session)


def signin_redirect(request: web.Request) -> PageError:
    target = request.rel_url.path_qs
    location = "/signin" if target in ("/", "") else "/signin?" + urlencode({"next": target})
    return PageError(303, "sign in first", {"Location": location})


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this server only (no scheme, no host, no //), with
    control characters, spaces and non-ASCII percent-encoded (a header cannot carry them as they are:
    the answer would never be sent)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    value = quote(value, safe=string.punctuation)
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def is_https(request: web.Request, svc: Services) -> bool:
    return external_base(request, svc.settings.public_url).startswith("https://")


def set_cookie(response: web.StreamResponse, request: web.Request, svc: Services, name: str, value: str,
               max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Lax",
                        secure=is_https(request, svc))


def signin_binding(request: web.Request) -> tuple[str, str | None]:
    """The sign-in form's CSRF binding, and a new cookie value to set when the browser has none yet."""
    existing = request.cookies.get(SIGNIN_COOKIE, "")
    if 16 <= len(existing) <= 100:
        return "signin:" + existing, None
    fresh = secrets.token_urlsafe(24)
    return "signin:" + fresh, fresh


def check_origin(request: web.Request, svc: Services) -> None:
    """A POST whose Origin (when the browser sends one) is not this server is refused."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    expected = external_base(request, svc.settings.public_url).rstrip("/")
    if origin.rstrip("/") != expected:
        raise PageError(403, "This form was sent from another site; it was refused.")


async def check_csrf(request: web.Request, svc: Services, sessions: SessionStore, binding: str,
                     form: Mapping[str, str]) -> None:
    check_origin(request, svc)
    if not await sessions.csrf_valid(binding, form.get(CSRF_FIELD, "")):
        raise PageError(403, "This form has expired or did not come from this site (CSRF check failed). "
                             "Reload the page and try again.")
