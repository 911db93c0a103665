"""Registry authentication as a flow: send, read the 401's challenge, fetch a token, send again.

Basic credentials go straight into the header when the registry asks for Basic. For Bearer
(the Docker token protocol) the credentials go only to the token endpoint named in the challenge,
and the bearer token it returns is cached per scope set until shortly before it expires.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass, field

# One auth-param: key=value or key="quoted value" (RFC 7235).
_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
# Docker's token spec: a token with no expires_in lives 60 s.
DEFAULT_TOKEN_LIFETIME = 60.0
EXPIRY_MARGIN = 10.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.params.get("scope", "").split())

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenge(header: str) -> Challenge | None:
    """The first Bearer or Basic challenge of a WWW-Authenticate header."""
    header = (header or "").strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    params = {}
    for match in _PARAM_RE.finditer(rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = value.replace('\\"', '"')
    return Challenge(scheme, params)


def scope_for(name: str, actions: str) -> str:
    return f"repository:{name}:{actions}"


@dataclass
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """Bearer tokens per scope set; thread safe."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._lock = threading.Lock()

    def get(self, scopes: tuple[str, ...]) -> str | None:
        with self._lock:
            token = self._tokens.get(scopes)
            if token is None or token.expires_at - EXPIRY_MARGIN < time.monotonic():
                return None
            return token.value

    def put(self, scopes: tuple[str, ...], value: str, lifetime: float | None) -> None:
        lifetime = lifetime if lifetime and lifetime > 0 else DEFAULT_TOKEN_LIFETIME
        with self._lock:
            self._tokens[scopes] = _Token(value, time.monotonic() + lifetime)

    def drop(self, scopes: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens.pop(scopes, None)


def scope_key(scopes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(scopes)))
