"""Plans and quotas: a workspace's storage limit, checked before a push's bytes are kept.

The content service asks here at each step of storing a blob: when an upload starts (is there room
at all?), as its bytes arrive (does the upload still fit?), and when it is committed (inside the
commit's transaction, under a lock per workspace, counting a blob the workspace already holds as
free). Checks read the workspace's running count (registry/usage.py), and recount exactly before
refusing, so a refusal is always right and an accepted push never costs a sum over the workspace. A refused push raises :class:`QuotaExceeded`, which each protocol answers in its own
error format; the content service drops what the upload had stored.

Workspaces without a plan (the default) cost a few indexed lookups per blob.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from aiohttp import web

from registry import usage
from registry.storage.database import Database, Transaction

log = logging.getLogger("packages_registry")

WARN_FRACTION = 0.8
WARNING_HEADER = "X-Packages-Quota-Warning"
_WARNING_LOG_SECONDS = 600.0
# The storage limits the request being handled has read (workspace -> limit), set by the warning middleware:
# a push that found its workspace without a limit has no warning to look up afterwards.
_LIMITS_READ: ContextVar[dict[str, int | None] | None] = ContextVar("quota_limits_read", default=None)
_UNREAD = object()

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``10GiB``, ``500MB``, ``1.5GB`` or a number of bytes."""
    match = _SIZE_RE.fullmatch(text.strip())
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"a size is a number with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), "
                         f"got {text[:40]!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class QuotaExceeded(Exception):
    def __init__(self, workspace: str, usage: int, limit: int, adding: int) -> None:
        super().__init__(
            f"storage quota exceeded: workspace {workspace} uses {format_size(usage)} ({usage} bytes) of its "
            f"{format_size(limit)} ({limit} bytes) limit, and this push needs {format_size(adding)} more. "
            f"Delete unused packages or versions, or ask an administrator to raise the limit "
            f"(packages-registry plan set {workspace} --storage SIZE)")
        self.workspace, self.usage, self.limit, self.adding = workspace, usage, limit, adding


async def storage_limit(db: Database | Transaction, workspace: str) -> int | None:
    row = await db.fetchone("SELECT storage_limit FROM workspace_plans WHERE workspace = ?", (workspace,))
    return None if row is None or row["storage_limit"] is None else int(row["storage_limit"])


async def set_storage_limit(db: Database, workspace: str, limit: int | None) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO workspace_plans (workspace, storage_limit, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (workspace) DO UPDATE SET storage_limit = excluded.storage_limit, "
            "updated_at = excluded.updated_at", (workspace, limit, time.time()))


class Quota:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _workspace_limit(self, db: Database | Transaction, package_id: int) -> tuple[str, int | None]:
        row = await db.fetchone(
            "SELECT p.workspace, w.storage_limit FROM packages p LEFT JOIN workspace_plans w "
            "ON w.workspace = p.workspace WHERE p.id = ?", (package_id,))
        if row is None:
            return "", None
        workspace, limit = row["workspace"], None if row["storage_limit"] is None else int(row["storage_limit"])
        read = _LIMITS_READ.get()
        if read is not None:
            read[workspace] = limit
        return workspace, limit

    async def recount(self, workspace: str) -> int:
        async with self.db.transaction() as tx:
            await tx.lock(f"quota:{workspace}")
            return await usage.recount(tx, workspace)

    async def budget(self, package_id: int) -> Budget | None:
        """What an upload to the package may still add (None: no limit). Refuses when there is no room left."""
        workspace, limit = await self._workspace_limit(self.db, package_id)
        if limit is None:
            return None
        used = await usage.counted_bytes(self.db, workspace)
        if used >= limit:
            used = await self.recount(workspace)
            if used >= limit:
                raise QuotaExceeded(workspace, used, limit, 1)
        return Budget(self, workspace, limit, limit - used)

    async def precheck_blob(self, package_id: int, digest: str, size: int) -> None:
        """Refuse a blob of known size before it is written (the commit checks again, exactly)."""
        workspace, limit = await self._workspace_limit(self.db, package_id)
        if limit is None or await usage.workspace_has_blob(self.db, workspace, digest):
            return
        used = await usage.counted_bytes(self.db, workspace)
        if used + size > limit:
            used = await self.recount(workspace)
            if used + size > limit:
                raise QuotaExceeded(workspace, used, limit, size)

    async def admit_blob(self, tx: Transaction, package_id: int, digest: str, size: int) -> None:
        """In the transaction that links the blob: refuse it if it takes the workspace over its limit, else
        count it (a blob the workspace holds already costs nothing). Commits to a limited workspace take
        turns on its quota lock, so concurrent pushes cannot together pass the limit."""
        await self.admit_blobs(tx, package_id, [(digest, size)])

    async def admit_blobs(self, tx: Transaction, package_id: int, blobs: Iterable[tuple[str, int]]) -> None:
        """``admit_blob`` for several (digest, size) blobs linked in one transaction, as one: refused if
        together they take the workspace over its limit (the same digest twice costs its room once). A
        few statements whatever their number: the workspace and its limit, which blobs it holds already,
        and the count raised once."""
        workspace, limit = await self._workspace_limit(tx, package_id)
        if not workspace:
            return
        sizes = dict(blobs)
        held = await usage.blobs_held(tx, workspace, list(sizes))
        adding = sum(size for digest, size in sizes.items() if digest not in held)
        if len(held) == len(sizes):
            return
        if limit is not None:
            await tx.lock(f"quota:{workspace}")  # held until the transaction ends
            used = await usage.count_in(tx, workspace)
            if used is None or used + adding > limit:
                used = await usage.recount(tx, workspace)
                if used + adding > limit:
                    raise QuotaExceeded(workspace, used, limit, adding)
        await usage.count_added(tx, workspace, adding)


@dataclass
class Budget:
    """The room an upload had when it started; checked as its bytes arrive."""

    quota: Quota
    workspace: str
    limit: int
    room: int
    recounted: bool = False

    async def check(self, total: int) -> None:
        """Raise once an upload of ``total`` bytes no longer fits (after one recount, which may find room
        that deletions made since the last one)."""
        if total <= self.room:
            return
        if not self.recounted:
            self.recounted = True
            self.room = self.limit - await self.quota.recount(self.workspace)
            if total <= self.room:
                return
        raise QuotaExceeded(self.workspace, self.limit - self.room, self.limit, total)


class Warnings:
    """The warning a successful push carries once its workspace is over WARN_FRACTION of its limit, and
    its log line (at most one per workspace every ten minutes)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._logged: dict[str, float] = {}

    async def of(self, workspace: str) -> str | None:
        message = await warning(self.db, workspace)
        now = time.monotonic()
        if message and now - self._logged.get(workspace, -_WARNING_LOG_SECONDS) >= _WARNING_LOG_SECONDS:
            if len(self._logged) > 4096:
                self._logged.clear()
            self._logged[workspace] = now
            log.warning("%s", message)
        return message


async def warning(db: Database, workspace: str) -> str | None:
    """The over-80 % message of a workspace (None while it is below, or has no limit)."""
    limit = await storage_limit(db, workspace)
    if limit is None:
        return None
    used = await usage.counted_bytes(db, workspace)
    if used < WARN_FRACTION * limit:
        return None
    return (f"workspace {workspace} uses {used * 100 // max(limit, 1)}% of its storage limit "
            f"({format_size(used)} of {format_size(limit)})")


def _workspace_of_path(path: str) -> str | None:
    for prefix in ("/v2/", "/npm/", "/maven/", "/pypi/"):
        if path.startswith(prefix):
            workspace = path[len(prefix):].split("/", 1)[0]
            return workspace or None
    return None


def warning_middleware(warnings: Warnings):
    """Adds the quota warning (``Warning: 299`` and X-Packages-Quota-Warning) to successful pushes."""

    @web.middleware
    async def quota_warning(request: web.Request, handler) -> web.StreamResponse:
        read: dict[str, int | None] = {}
        token = _LIMITS_READ.set(read)
        try:
            response = await handler(request)
        finally:
            _LIMITS_READ.reset(token)
        if request.method in ("PUT", "POST", "PATCH") and 200 <= response.status < 300 and not response.prepared:
            workspace = _workspace_of_path(request.path)
            # Known to have no limit from this very push's own reading: nothing to warn of, nothing to read.
            unlimited = workspace is not None and read.get(workspace, _UNREAD) is None
            message = await warnings.of(workspace) if workspace and not unlimited else None
            if message:
                response.headers[WARNING_HEADER] = message
                response.headers["Warning"] = f'299 - "{message}"'
        return response

    return quota_warning
