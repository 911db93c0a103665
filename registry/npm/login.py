"""``npm login``: the CouchDB user PUT (legacy) and npm's web login flow.

Both end with npm writing ``_authToken=<token>`` into .npmrc, and the token is the user's own API
token (or a pipeline token): the registry has no passwords, so "logging in" means proving a token is
valid, with the email (or pipeline username) as the user name and the token as the password.

Web flow: ``POST /-/v1/login`` opens a session and answers a login URL (a page asking for email and
token) and a done URL that npm polls. Each URL has its own secret: the login URL is shown to the
user and may be seen by others (a shared screen, a browser history), so knowing it must not be
enough to collect the token, which only the done URL's secret (kept by npm) does. Both secrets are
stored only as hashes. The token waiting to be collected is sealed with a key derived from the done
secret; the page, which knows only the login secret, seals with that key unwrapped by the login
secret. Nothing in the database can be turned back into the token; a collected or stale session
is deleted. Any server replica can serve any step.

Opening a web login needs no credentials, so the sessions still waiting are capped per client
address in each workspace (and per workspace), and only for workspaces that exist: one client's
flood locks out only itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass

from registry.access.authn import AuthenticationFailed
from registry.context import Services
from registry.storage.database import Database

SESSION_TTL = 600.0
POLL_SECONDS = 1
# Past this many sessions still waiting, new ones are refused until old ones are collected or expire.
MAX_WAITING_PER_CLIENT = 20  # per client address in one workspace
MAX_WAITING_PER_WORKSPACE = 1000
KEY_BYTES = 32


class TooManyLogins(Exception):
    pass


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _derive(secret: str | bytes, purpose: str, length: int) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    blocks = []
    counter = 0
    while sum(map(len, blocks)) < length:
        blocks.append(hmac.new(key, f"{purpose}-{counter}".encode(), hashlib.sha256).digest())
        counter += 1
    return b"".join(blocks)[:length]


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def sealing_key(done_secret: str) -> bytes:
    return _derive(done_secret, "npm-login-key", KEY_BYTES)


def wrap_key(key: bytes, login_secret: str) -> str:
    return base64.b64encode(_xor(key, _derive(login_secret, "npm-login-wrap", KEY_BYTES))).decode()


def unwrap_key(wrapped: str, login_secret: str) -> bytes:
    return _xor(base64.b64decode(wrapped), _derive(login_secret, "npm-login-wrap", KEY_BYTES))


def seal(key: bytes, token: str) -> str:
    data = token.encode()
    return base64.b64encode(_xor(data, _derive(key, "npm-login-seal", len(data)))).decode()


def unseal(key: bytes, sealed: str) -> str:
    data = base64.b64decode(sealed)
    return _xor(data, _derive(key, "npm-login-seal", len(data))).decode(errors="replace")


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


@dataclass(frozen=True, slots=True)
class OpenedLogin:
    login_secret: str  # in the login URL, for the user's browser
    done_secret: str  # in the done URL, for npm alone


class WebLogins:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, workspace: str, client: str) -> OpenedLogin:
        opened = OpenedLogin(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        wrapped = wrap_key(sealing_key(opened.done_secret), opened.login_secret)
        now = time.time()
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM npm_login_sessions WHERE created_at < ?", (now - SESSION_TTL,))
            mine = await tx.fetchone("SELECT COUNT(*) AS n FROM npm_login_sessions WHERE workspace = ? AND client = ?",
                                     (workspace, client))
            if mine is not None and int(mine["n"]) >= MAX_WAITING_PER_CLIENT:
                raise TooManyLogins
            everyone = await tx.fetchone("SELECT COUNT(*) AS n FROM npm_login_sessions WHERE workspace = ?",
                                         (workspace,))
            if everyone is not None and int(everyone["n"]) >= MAX_WAITING_PER_WORKSPACE:
                raise TooManyLogins
            await tx.execute(
                "INSERT INTO npm_login_sessions (id_hash, login_hash, workspace, client, created_at, wrapped_key, "
                "sealed_token) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (_hash(opened.done_secret), _hash(opened.login_secret), workspace, client, now, wrapped))
        return opened

    async def exists(self, workspace: str, login_secret: str) -> bool:
        row = await self.db.fetchone(
            "SELECT created_at FROM npm_login_sessions WHERE login_hash = ? AND workspace = ?",
            (_hash(login_secret), workspace))
        return row is not None and row["created_at"] > time.time() - SESSION_TTL

    async def complete(self, workspace: str, login_secret: str, token: str) -> bool:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT wrapped_key FROM npm_login_sessions WHERE login_hash = ? AND workspace = ? "
                "AND created_at > ? AND sealed_token IS NULL",
                (_hash(login_secret), workspace, time.time() - SESSION_TTL))
            if row is None or not row["wrapped_key"]:
                return False
            sealed = seal(unwrap_key(row["wrapped_key"], login_secret), token)
            return await tx.execute(
                "UPDATE npm_login_sessions SET sealed_token = ? WHERE login_hash = ? AND sealed_token IS NULL",
                (sealed, _hash(login_secret))) > 0

    async def collect(self, workspace: str, done_secret: str) -> str | None | bool:
        """The token once the user logged in (and the session is gone), None while waiting, False if no session."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT created_at, sealed_token FROM npm_login_sessions WHERE id_hash = ? AND workspace = ?",
                (_hash(done_secret), workspace))
            if row is None or row["created_at"] <= time.time() - SESSION_TTL:
                return False
            if row["sealed_token"] is None:
                return None
            await tx.execute("DELETE FROM npm_login_sessions WHERE id_hash = ?", (_hash(done_secret),))
        return unseal(sealing_key(done_secret), row["sealed_token"])


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
