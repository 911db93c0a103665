"""Plans and quotas: a workspace's storage limit, checked before a push's bytes are kept.

The content service asks here at each step of storing a blob: when an upload starts (is there room
at all?), as its bytes arrive (does the upload still fit?), and when it is committed (exactly:
inside the commit's transaction, under a lock per workspace, counting a blob the workspace already
holds as free). A refused push raises :class:`QuotaExceeded`, which each protocol answers in its own
error format; the content service drops what the upload had stored.

Workspaces without a plan (the default) cost one indexed lookup per blob and nothing else.
"""

from __future__ import annotations

import logging
import re
import time

from aiohttp import web

from registry.storage.database import Database, Transaction
from registry.usage import workspace_bytes, workspace_has_blob

log = logging.getLogger("packages_registry")

WARN_FRACTION = 0.8
WARNING_HEADER = "X-Packages-Quota-Warning"
_WARNING_LOG_SECONDS = 600.0

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

    async def _plan(self, db: Database | Transaction, package_id: int) -> tuple[str, int] | None:
        """(workspace, limit) of the package's workspace, or None when it has no limit."""
        row = await db.fetchone(
            "SELECT p.workspace, w.storage_limit FROM packages p JOIN workspace_plans w ON w.workspace = p.workspace "
            "WHERE p.id = ? AND w.storage_limit IS NOT NULL", (package_id,))
        return None if row is None else (row["workspace"], int(row["storage_limit"]))

    async def room(self, package_id: int) -> int | None:
        """Bytes the package's workspace may still take (None: no limit). Refuses when there is none left."""
        plan = await self._plan(self.db, package_id)
        if plan is None:
            return None
        workspace, limit = plan
        usage = await workspace_bytes(self.db, workspace)
        if usage >= limit:
            raise QuotaExceeded(workspace, usage, limit, 1)
        return limit - usage

    async def check_stream(self, package_id: int, room: int | None, total: int) -> None:
        """Raise once an upload of ``total`` bytes no longer fits the ``room`` measured at its start."""
        if room is not None and total > room:
            plan = await self._plan(self.db, package_id)
            if plan is not None:
                workspace, limit = plan
                raise QuotaExceeded(workspace, await workspace_bytes(self.db, workspace), limit, total)

    async def admit_blob(self, tx: Database | Transaction, package_id: int, digest: str, size: int,
                         locked: bool = True) -> None:
        """Check, in the transaction that links the blob, that linking it keeps the workspace within its
        limit. ``locked`` takes the workspace's quota lock (commits of one workspace take turns)."""
        plan = await self._plan(tx, package_id)
        if plan is None:
            return
        workspace, limit = plan
        if locked:
            await tx.lock(f"quota:{workspace}")
        if await workspace_has_blob(tx, workspace, digest):
            return
        usage = await workspace_bytes(tx, workspace)
        if usage + size > limit:
            raise QuotaExceeded(workspace, usage, limit, size)


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
    usage = await workspace_bytes(db, workspace)
    if usage < WARN_FRACTION * limit:
        return None
    return (f"workspace {workspace} uses {usage * 100 // max(limit, 1)}% of its storage limit "
            f"({format_size(usage)} of {format_size(limit)})")


def _workspace_of_path(path: str) -> str | None:
    for prefix in ("/v2/", "/npm/", "/maven/"):
        if path.startswith(prefix):
            workspace = path[len(prefix):].split("/", 1)[0]
            return workspace or None
    return None


def warning_middleware(warnings: Warnings):
    """Adds the quota warning (``Warning: 299`` and X-Packages-Quota-Warning) to successful pushes."""

    @web.middleware
    async def quota_warning(request: web.Request, handler) -> web.StreamResponse:
        response = await handler(request)
        if request.method in ("PUT", "POST", "PATCH") and 200 <= response.status < 300 and not response.prepared:
            workspace = _workspace_of_path(request.path)
            message = await warnings.of(workspace) if workspace else None
            if message:
                response.headers[WARNING_HEADER] = message
                response.headers["Warning"] = f'299 - "{message}"'
        return response

    return quota_warning
