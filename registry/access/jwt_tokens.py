"""Docker registry bearer tokens: signed JWTs that carry who asked and what they were granted.

The registry still asks the access controller on every request: the token's
grant can only narrow what the principal's current roles allow, and a token
stops working as soon as the credential it was issued for is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt

from registry.access.models import Principal
from registry.access.signing_keys import LEGACY_KID, KeyRing

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


class TokenService:
    """Issues and verifies bearer tokens for one service (the ``aud`` every token must name), signed
    by the key ring's signing key and naming it in the header (``kid``)."""

    def __init__(self, keys: KeyRing, audience: str, issuer: str = "packages-registry") -> None:
        self.keys = keys
        self.audience = audience
        self.issuer = issuer
        self._verified: dict[tuple[str, str], tuple[float, str, tuple[Principal, Grant]]] = {}

    def _sign(self, claims: dict) -> str:
        key = self.keys.signing
        return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})

    def derived_keys(self, purpose: bytes) -> list[bytes]:
        """Keys for other HMACs (the pages' CSRF tokens), from the signing keys: the first is the
        current one; every one is still accepted, so a rotation does not break forms already open."""
        signing = self.keys.signing
        ordered = [signing] + [key for key in self.keys.all() if key.kid != signing.kid]
        return [hmac.new(key.secret, purpose, hashlib.sha256).digest() for key in ordered]

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
        return self._sign(claims), ACCESS_TOKEN_TTL

    def issue_refresh(self, principal: Principal, audience: str) -> str:
        return self._sign(self._claims(principal, audience, REFRESH_TOKEN_TTL, "refresh"))

    def verify(self, token: str, kind: str = "access") -> tuple[Principal, Grant]:
        cached = self._verified.get((token, kind))
        if cached is not None:
            expires_at, kid, verified = cached
            if time.time() < expires_at and self.keys.find(kid) is not None:  # its key may be removed since
                return verified
            del self._verified[(token, kind)]
        expires_at, kid, verified = self._verify(token, kind)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[(token, kind)] = (expires_at, kid, verified)
        return verified

    def _verify(self, token: str, kind: str) -> tuple[float, str, tuple[Principal, Grant]]:
        try:
            # 0.1.0 signed without a kid, with the key now kept as LEGACY_KID.
            kid = jwt.get_unverified_header(token).get("kid") or LEGACY_KID
            key = self.keys.find(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidToken("the token was signed by a key this server does not have")
            claims = jwt.decode(token, key.secret, algorithms=[ALGORITHM], issuer=self.issuer,
                                audience=self.audience, options={"require": ["exp", "sub", "typ", "aud"]})
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
        return float(claims["exp"]), kid, (principal, Grant(actions))
