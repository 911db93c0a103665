"""Docker registry bearer tokens: signed JWTs that carry who asked and what they were granted.

The registry still asks the access controller on every request: the token's
grant can only narrow what the principal's current roles allow, and a token
stops working as soon as the credential it was issued for is revoked.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

from registry.access.models import Principal
from registry.storage.database import Database

ACCESS_TOKEN_TTL = 300
REFRESH_TOKEN_TTL = 7 * 24 * 3600
ALGORITHM = "HS256"
# Verified tokens remembered, so a client pulling many layers with one token pays for the signature
# check once. Only the signature check is skipped: expiry is checked on every use, and the caller
# still asks whether the credential behind the token is live and what its roles allow.
VERIFIED_CACHE_SIZE = 1024


class InvalidToken(Exception):
    """A bearer token that is malformed, forged, expired or of the wrong kind."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Actions granted per resource, e.g. {("repository", "ws/app"): {"pull", "push"}}."""

    actions: dict[tuple[str, str], frozenset[str]]

    def allows(self, resource_type: str, name: str, action: str) -> bool:
        return action in self.actions.get((resource_type, name), frozenset())


async def load_or_create_key(db: Database) -> bytes:
    """The signing key, made once and kept in the metadata database so that every replica and
    worker process signs and verifies with the same key."""
    async with db.transaction() as tx:
        await tx.lock("signing-key")
        row = await tx.fetchone("SELECT value FROM server_secrets WHERE name = ?", ("jwt-signing-key",))
        if row is not None:
            return bytes.fromhex(row["value"])
        key = secrets.token_bytes(32)
        await tx.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?)", ("jwt-signing-key", key.hex()))
        return key


class TokenService:
    def __init__(self, key: bytes, issuer: str = "packages-registry") -> None:
        self._key = key
        self.issuer = issuer
        self._verified: dict[tuple[str, str], tuple[float, tuple[Principal, Grant]]] = {}

    def _claims(self, principal: Principal, audience: str, ttl: int, kind: str) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": principal.name,
            "aud": audience,
            "iat": now,
            "nbf": now - 5,
            "exp": now + ttl,
            "jti": secrets.token_hex(8),
            "typ": kind,
            "knd": principal.kind,
            "crd": principal.credential_id,
            "scp": sorted(principal.scopes),
        }
        if principal.kind == "pipeline":
            claims["rid"] = principal.repository_id
            claims["wsp"] = principal.workspace
        return claims

    def issue_access(self, principal: Principal, audience: str, access: list[dict]) -> tuple[str, int]:
        claims = self._claims(principal, audience, ACCESS_TOKEN_TTL, "access")
        claims["access"] = access
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), ACCESS_TOKEN_TTL

    def issue_refresh(self, principal: Principal, audience: str) -> str:
        return jwt.encode(self._claims(principal, audience, REFRESH_TOKEN_TTL, "refresh"), self._key,
                          algorithm=ALGORITHM)

    def verify(self, token: str, kind: str = "access") -> tuple[Principal, Grant]:
        cached = self._verified.get((token, kind))
        if cached is not None:
            expires_at, verified = cached
            if time.time() < expires_at:
                return verified
            del self._verified[(token, kind)]
        expires_at, verified = self._verify(token, kind)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[(token, kind)] = (expires_at, verified)
        return verified

    def _verify(self, token: str, kind: str) -> tuple[float, tuple[Principal, Grant]]:
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], issuer=self.issuer,
                                options={"verify_aud": False, "require": ["exp", "sub", "typ"]})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if claims.get("typ") != kind or claims.get("knd") not in ("user", "pipeline"):
            raise InvalidToken("wrong kind of token")
        principal = Principal(
            kind=claims["knd"],
            name=claims["sub"],
            credential_id=claims.get("crd"),
            scopes=frozenset(claims.get("scp") or ()),
            repository_id=claims.get("rid"),
            workspace=claims.get("wsp"),
        )
        actions: dict[tuple[str, str], frozenset[str]] = {}
        for entry in claims.get("access") or ():
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                key = (str(entry.get("type")), entry["name"])
                actions[key] = actions.get(key, frozenset()) | frozenset(map(str, entry.get("actions") or ()))
        return float(claims["exp"]), (principal, Grant(actions))
