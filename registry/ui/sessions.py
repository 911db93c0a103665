"""Web UI sessions and CSRF tokens.

A session is made by signing in with an email and an API token. Its id is random (256 bits), sent
only in an HttpOnly cookie and stored only as a hash, so a copy of the database opens no session.
It carries the scopes of the token it was made with (rights stay scopes ∩ roles) and ends when it
expires, when the user signs out, or when that token is revoked or expires.

CSRF tokens are HMACs, under a key derived from the token signing keys (files, never in the
database), of what the form's sender is bound to: the session, the
API credential of a Basic-authenticated script, or (for the sign-in form, before any session) a
random cookie. A cross-site page can neither read them nor forge them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from registry.access.jwt_tokens import TokenService
from registry.access.models import Principal
from registry.access.secrets import hash_secret
from registry.storage.database import Database

SESSION_TTL = 12 * 3600
CSRF_KEY_PURPOSE = b"packages-registry ui-csrf"


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: str
    principal: Principal
    expires_at: float


class SessionStore:
    def __init__(self, db: Database, tokens: TokenService) -> None:
        self.db = db
        self.tokens = tokens

    async def create(self, principal: Principal, ttl: float = SESSION_TTL) -> str:
        """A new session for a user principal; returns the id for the cookie (never stored in clear)."""
        assert principal.kind == "user" and principal.credential_id
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM ui_sessions WHERE expires_at <= ?", (now,))
            await tx.execute(
                "INSERT INTO ui_sessions (id_hash, email, credential_id, scopes, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (hash_secret(session_id), principal.name, principal.credential_id,
                 " ".join(sorted(principal.scopes)), now, now + ttl),
            )
        return session_id

    async def get(self, session_id: str) -> Session | None:
        """The live session with that id (the caller still checks that its token is live)."""
        if not session_id or len(session_id) > 100:
            return None
        id_hash = hash_secret(session_id)
        row = await self.db.fetchone(
            "SELECT email, credential_id, scopes, expires_at FROM ui_sessions WHERE id_hash = ?", (id_hash,)
        )
        if row is None or row["expires_at"] <= time.time():
            return None
        principal = Principal(kind="user", name=row["email"], credential_id=row["credential_id"],
                              scopes=frozenset(row["scopes"].split()))
        return Session(id_hash, principal, float(row["expires_at"]))

    async def delete(self, id_hash: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM ui_sessions WHERE id_hash = ?", (id_hash,))

    # --- CSRF ---

    async def csrf_token(self, binding: str) -> str:
        return self._csrf(self.tokens.derived_keys(CSRF_KEY_PURPOSE)[0], binding)

    async def csrf_valid(self, binding: str, token: str) -> bool:
        return bool(token) and any(hmac.compare_digest(self._csrf(key, binding), token)
                                   for key in self.tokens.derived_keys(CSRF_KEY_PURPOSE))

    @staticmethod
    def _csrf(key: bytes, binding: str) -> str:
        return hmac.new(key, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()
