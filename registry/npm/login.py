"""``npm login``: the CouchDB user PUT (legacy) and npm's web login flow.

Both end with npm writing ``_authToken=<token>`` into .npmrc, and the token is the user's own API
token (or a pipeline token): the registry has no passwords, so "logging in" means proving a token is
valid, with the email (or pipeline username) as the user name and the token as the password.

Web flow: ``POST /-/v1/login`` opens a session and answers a login URL (a page asking for email and
token) and a done URL that npm polls. The session id, known only to npm and the page, is stored
only as a hash, and the token waiting to be collected is sealed with a key derived from that id, so
nothing in the database can be turned back into the token; a collected or stale session is deleted.
Any server replica can serve any step.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time

from registry.access.authn import AuthenticationFailed
from registry.context import Services
from registry.storage.database import Database

SESSION_TTL = 600.0
POLL_SECONDS = 1
# Opening a web login needs no credentials, so a flood of them is bounded: past this many sessions
# still waiting, new ones are refused until old ones are collected or expire.
MAX_WAITING_SESSIONS = 1000


class TooManyLogins(Exception):
    pass


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _keystream(session_id: str, length: int) -> bytes:
    blocks = []
    counter = 0
    while sum(map(len, blocks)) < length:
        blocks.append(hmac.new(session_id.encode(), f"npm-login-seal-{counter}".encode(), hashlib.sha256).digest())
        counter += 1
    return b"".join(blocks)[:length]


def seal(session_id: str, token: str) -> str:
    data = token.encode()
    return base64.b64encode(bytes(a ^ b for a, b in zip(data, _keystream(session_id, len(data)), strict=True))
                            ).decode()


def unseal(session_id: str, sealed: str) -> str:
    data = base64.b64decode(sealed)
    return bytes(a ^ b for a, b in zip(data, _keystream(session_id, len(data)), strict=True)).decode(errors="replace")


async def check_credentials(svc: Services, username: object, password: object) -> str:
    """The user name for a valid (name, token) pair; AuthenticationFailed otherwise.

    The token proves who is logging in; the name must be its owner's email, or the part of the email
    before the ``@``, because npm's legacy login refuses an ``@`` in user names.
    """
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise AuthenticationFailed("log in with your email (or pipeline username) and an API token as password")
    principal = await svc.access.authenticate_secret(password)
    if principal is not None:
        accepted = {principal.name.lower()}
        if principal.kind == "user":
            accepted.add(principal.name.split("@", 1)[0].lower())
        if username.lower() in accepted:
            return principal.name
    raise AuthenticationFailed("invalid user name or token (or the token expired or was revoked)")


class WebLogins:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, workspace: str) -> str:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM npm_login_sessions WHERE created_at < ?", (now - SESSION_TTL,))
            waiting = await tx.fetchone("SELECT COUNT(*) AS n FROM npm_login_sessions")
            if waiting is not None and int(waiting["n"]) >= MAX_WAITING_SESSIONS:
                raise TooManyLogins
            await tx.execute("INSERT INTO npm_login_sessions (id_hash, workspace, created_at, sealed_token) "
                             "VALUES (?, ?, ?, NULL)", (_hash(session_id), workspace, now))
        return session_id

    async def exists(self, workspace: str, session_id: str) -> bool:
        row = await self.db.fetchone("SELECT created_at FROM npm_login_sessions WHERE id_hash = ? AND workspace = ?",
                                     (_hash(session_id), workspace))
        return row is not None and row["created_at"] > time.time() - SESSION_TTL

    async def complete(self, workspace: str, session_id: str, token: str) -> bool:
        async with self.db.transaction() as tx:
            return await tx.execute(
                "UPDATE npm_login_sessions SET sealed_token = ? WHERE id_hash = ? AND workspace = ? "
                "AND created_at > ? AND sealed_token IS NULL",
                (seal(session_id, token), _hash(session_id), workspace, time.time() - SESSION_TTL)) > 0

    async def collect(self, workspace: str, session_id: str) -> str | None | bool:
        """The token once the user logged in (and the session is gone), None while waiting, False if no session."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT created_at, sealed_token FROM npm_login_sessions WHERE id_hash = ? AND workspace = ?",
                (_hash(session_id), workspace))
            if row is None or row["created_at"] <= time.time() - SESSION_TTL:
                return False
            if row["sealed_token"] is None:
                return None
            await tx.execute("DELETE FROM npm_login_sessions WHERE id_hash = ?", (_hash(session_id),))
        return unseal(session_id, row["sealed_token"])


def login_page(action: str, registry_url: str, message: str = "", done: bool = False) -> str:
    body = ("<p>You are logged in. Return to your terminal: npm has saved your token.</p>" if done else f"""
<form method="post" action="{html.escape(action)}">
  <p><label>Email (or pipeline username)<br><input name="username" autocomplete="username" required></label></p>
  <p><label>API token<br><input name="token" type="password" autocomplete="current-password" required></label></p>
  <p><button type="submit">Log in</button></p>
</form>
<p>Use an API token with the <code>read:package:bitbucket</code> (and, to publish,
<code>write:package:bitbucket</code>) scope.</p>""")
    error = f'<p role="alert" style="color:#ae2e24">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>npm login - Packages</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">
<h1>npm login</h1><p>Registry: <code>{html.escape(registry_url)}/</code></p>{error}{body}
</body></html>"""
