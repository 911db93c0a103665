"""The audit log: who did what to which package, with which credential, from where, and how it ended.

Every action is recorded from the one place that carries it out (a protocol's push or delete
handler, a CLI command, a page's form, a retention run). A credential is named by its id and name
(an API token) or by the repository it was made for (a pipeline token); never by anything secret.
Pulls are many: they are recorded only when the server samples them (``--audit-pulls FRACTION``,
off by default). Entries older than the configured number of days are pruned by the server's
periodic work.
"""

from __future__ import annotations

import getpass
import json
import logging
import random
import time
from contextvars import ContextVar
from dataclasses import asdict, dataclass

from aiohttp import web

from registry.access.authn import AuthenticationFailed, authenticate
from registry.access.models import Package, Principal, api_token_label, pipeline_token_label
from registry.storage.database import Database, Transaction
from registry.storage.faults import StorageFault

log = logging.getLogger("packages_registry")

ACTIONS = ("create", "push", "pull", "delete", "restore", "purge", "policy", "plan")
MAX_LIMIT = 10_000

# The client address of the request being handled, for services that record actions without seeing the
# request (registry/lifecycle.py): set by :func:`address_middleware`.
_REQUEST_ADDRESS: ContextVar[str | None] = ContextVar("audit_request_address", default=None)


@web.middleware
async def address_middleware(request: web.Request, handler) -> web.StreamResponse:
    token = _REQUEST_ADDRESS.set(request.remote)
    try:
        return await handler(request)
    finally:
        _REQUEST_ADDRESS.reset(token)


@dataclass(frozen=True, slots=True)
class Actor:
    name: str  # an email, a pipeline token's user name, "cli:<os user>", or "retention policy N"
    credential: str | None = None  # "api token ID (NAME)", "pipeline token ID of W/R"; never a secret
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at: float
    action: str
    outcome: str
    workspace: str | None
    repository: str | None
    package: str | None
    target: str | None
    actor: str
    credential: str | None
    address: str | None
    detail: str | None

    def as_json(self) -> dict:
        return {**asdict(self), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))}


def cli_actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"cli:{user}", "the admin command line")


async def actor_of(db: Database, principal: Principal, address: str | None) -> Actor:
    if principal.credential_label is not None:
        return Actor(principal.name, principal.credential_label, address)
    kind, _, token_id = (principal.credential_id or "").partition(":")
    if principal.kind == "pipeline":
        row = await db.fetchone(
            "SELECT r.workspace || '/' || r.slug AS repository FROM repositories r WHERE r.id = ?",
            (principal.repository_id,))
        repository = row["repository"] if row else "?"
        return Actor(principal.name, pipeline_token_label(token_id, repository), address)
    if principal.kind == "user" and kind == "a":
        row = await db.fetchone("SELECT name FROM api_tokens WHERE id = ?", (token_id,))
        return Actor(principal.name, api_token_label(token_id, row["name"] if row else "?"), address)
    return Actor(principal.name or principal.kind, None, address)


async def actor_for(db: Database, principal: Principal | None) -> Actor:
    """The actor of a service call: a request's principal (and the request's address), or the operator at
    the command line (None)."""
    if principal is None:
        return cli_actor()
    return await actor_of(db, principal, _REQUEST_ADDRESS.get())


async def actor_of_request(request: web.Request, principal: Principal | None = None) -> Actor:
    """The actor of a request: its principal when the handler has it, else its credentials read again
    (for a refusal raised below the handler). Anonymous when they are not valid."""
    from registry.context import services

    svc = services(request)
    if principal is None:
        try:
            principal = (await authenticate(request, svc.access, svc.tokens)).principal
        except AuthenticationFailed:
            # npm sends a bare token as Bearer.
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            found = await svc.access.authenticate_secret(value.strip()) if scheme.lower() == "bearer" else None
            principal = found or Principal(kind="anonymous")
    return await actor_of(svc.db, principal, request.remote)


async def record(db: Database, action: str, actor: Actor, *, outcome: str = "ok", package: Package | None = None,
                 workspace: str | None = None, repository: str | None = None, target: str | None = None,
                 detail: str | None = None, package_name: str | None = None) -> None:
    """Add an entry. A failure to record is logged, never raised: it must not undo the action it follows.

    ``package`` names the package, its workspace and repository; ``package_name`` (workspace/name) names
    one that can no longer be looked up (deleted)."""
    try:
        async with db.transaction() as tx:
            await record_in(tx, action, actor, outcome=outcome, package=package, workspace=workspace,
                            repository=repository, target=target, detail=detail, package_name=package_name)
    except StorageFault as exc:  # an outage: one line, as for requests
        log.warning("could not record the audit entry for %s: %s", action, exc)
    except Exception:
        log.exception("could not record the audit entry for %s", action)


async def record_in(tx: Transaction, action: str, actor: Actor, *, outcome: str = "ok",
                    package: Package | None = None, workspace: str | None = None, repository: str | None = None,
                    target: str | None = None, detail: str | None = None, package_name: str | None = None) -> None:
    """Add an entry in the transaction that carries out the action: the two are kept together or not at
    all, with one commit to sync (a PyPI upload's). Arguments as for :func:`record`."""
    if package is not None:
        workspace, repository = package.workspace, package.repository
        package_name = f"{package.workspace}/{package.name}"
        detail = f"{package.type} package" + (f"; {detail}" if detail else "")
    await tx.execute(
        "INSERT INTO audit_log (at, action, outcome, workspace, repository, package, target, actor, "
        "credential, address, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (time.time(), action, outcome, workspace, repository, package_name, target, actor.name,
         actor.credential, actor.address, detail))


async def record_request(request: web.Request, action: str, *, principal: Principal | None = None,
                         outcome: str = "ok", package: Package | None = None, workspace: str | None = None,
                         target: str | None = None, detail: str | None = None) -> None:
    from registry.context import services

    await record(services(request).db, action, await request_actor(request, principal), outcome=outcome,
                 package=package, workspace=workspace, target=target, detail=detail)


async def request_actor(request: web.Request, principal: Principal | None = None) -> Actor:
    """The actor of a request for its audit entry; "unknown" (with the address) when telling who it was
    fails: the entry is still worth more than nothing."""
    try:
        return await actor_of_request(request, principal)
    except StorageFault:
        return Actor("unknown", None, request.remote)  # the database is away: the entry still says what
    except Exception:
        log.exception("could not tell the actor of %s %s for the audit log", request.method, request.path)
        return Actor("unknown", None, request.remote)


async def record_pull(request: web.Request, principal: Principal | None, package: Package, target: str) -> None:
    """Record a pull if the server samples pulls (``--audit-pulls``) and this one is drawn."""
    from registry.context import services

    fraction = services(request).settings.audit_pulls
    if fraction > 0 and random.random() < fraction:
        await record_request(request, "pull", principal=principal, package=package, target=target)


async def entries(db: Database, *, workspace: str | None = None, package: str | None = None,
                  repositories: list[str] | None = None, since: float | None = None, action: str | None = None,
                  limit: int = 1000) -> list[Entry]:
    """Entries, newest first. ``repositories`` narrows them to those repositories' packages (a page's
    viewer sees only the repositories they administer)."""
    where, params = [], []
    for clause, value in (("workspace = ?", workspace), ("package = ?", package), ("at >= ?", since),
                          ("action = ?", action)):
        if value is not None:
            where.append(clause)
            params.append(value)
    if repositories is not None:
        if not repositories:
            return []
        where.append(f"repository IN ({', '.join('?' * len(repositories))})")
        params.extend(repositories)
    sql = "SELECT * FROM audit_log" + (f" WHERE {' AND '.join(where)}" if where else "")
    rows = await db.fetchall(f"{sql} ORDER BY at DESC, id DESC LIMIT ?", (*params, min(int(limit), MAX_LIMIT)))
    return [Entry(**{key: row[key] for key in Entry.__slots__}) for row in rows]


async def prune(db: Database, keep_days: float) -> int:
    async with db.transaction() as tx:
        return await tx.execute("DELETE FROM audit_log WHERE at < ?", (time.time() - keep_days * 86400,))


def render_text(entry: Entry) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.at))
    where = entry.package or entry.repository or entry.workspace or "-"
    parts = [stamp, entry.action, entry.outcome, where, entry.target or "-", entry.actor,
             entry.credential or "-", entry.address or "-", entry.detail or ""]
    return "\t".join(parts).rstrip()


def render_json(rows: list[Entry]) -> str:
    return json.dumps([entry.as_json() for entry in rows], indent=2)
