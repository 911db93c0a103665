"""Storage usage: the bytes a workspace keeps, and their metering into GB-hours per month.

A blob is stored once however many packages link it (content is deduplicated on disk), so a
workspace's usage counts each blob it links once. The break-down by repository or package counts
a blob once in each repository or package that links it, so its parts may add up to more than the
workspace's total. Manifests, npm/Maven metadata and wheels' core metadata files live in the
database and are not counted: usage is what the blob store holds.

Metering samples every workspace's usage now and then (the server's periodic work, or
``packages-registry usage sample``); the bytes of one sample are taken to have been held until the
next, so each interval adds ``bytes x seconds`` to the calendar month (UTC) it falls in.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from registry.storage.database import Database, Transaction

GB = 10**9  # billing gigabytes are decimal, as Bitbucket's
HOUR = 3600.0

# The one rule for whose storage counts against a workspace (``p`` is the package's row): every
# package's, including deleted ones and those of deleted repositories kept for their retention period,
# except when their whole workspace was deleted (see docs/lifecycle.md). Every usage figure and quota
# check reads it.
COUNTS_AGAINST_WORKSPACE = ("NOT EXISTS (SELECT 1 FROM workspaces dw WHERE dw.slug = p.workspace "
                            "AND dw.deleted_at IS NOT NULL)")

# Blobs linked to counted packages of one workspace, each once.
_WORKSPACE_DIGESTS = (
    "SELECT DISTINCT l.digest FROM package_blobs l JOIN packages p ON p.id = l.package_id "
    f"WHERE p.workspace = ? AND {COUNTS_AGAINST_WORKSPACE}"
)


@dataclass(frozen=True, slots=True)
class UsageLine:
    name: str  # a repository (workspace/slug) or a package (type workspace/name)
    bytes: int


async def workspace_bytes(db: Database | Transaction, workspace: str) -> int:
    row = await db.fetchone(
        f"SELECT COALESCE(SUM(b.size), 0) AS n FROM blobs b WHERE b.digest IN ({_WORKSPACE_DIGESTS})", (workspace,))
    return int(row["n"]) if row else 0


async def workspace_has_blob(db: Database | Transaction, workspace: str, digest: str) -> bool:
    """Whether the workspace already counts this blob (so linking it again costs nothing)."""
    return bool(await blobs_held(db, workspace, [digest]))


async def blobs_held(db: Database | Transaction, workspace: str, digests: list[str]) -> set[str]:
    """Which of the digests the workspace already counts (one query for the blobs of one push)."""
    if not digests:
        return set()
    marks = ", ".join("?" * len(digests))
    rows = await db.fetchall(
        "SELECT DISTINCT l.digest FROM package_blobs l JOIN packages p ON p.id = l.package_id "
        f"WHERE l.digest IN ({marks}) AND p.workspace = ? AND {COUNTS_AGAINST_WORKSPACE}", (*digests, workspace))
    return {row["digest"] for row in rows}


# --- the running count ---
# Summing a workspace's blobs grows with the workspace (about 3 ms per thousand blobs here): too much for
# every push. Pushes read and raise a running count instead; it is made exact by a recount when first
# needed, by the periodic sample, and before a push is refused. Deletions are not subtracted as they
# happen, so between recounts the count may be above the truth, never below it.

async def counted_bytes(db: Database, workspace: str) -> int:
    """The workspace's running count (recounted first if it has none yet)."""
    row = await db.fetchone("SELECT stored_bytes FROM workspace_usage WHERE workspace = ?", (workspace,))
    if row is not None:
        return int(row["stored_bytes"])
    async with db.transaction() as tx:
        return await recount(tx, workspace)


async def count_in(tx: Transaction, workspace: str) -> int | None:
    """The running count as a transaction sees it (None: the workspace has none yet)."""
    row = await tx.fetchone("SELECT stored_bytes FROM workspace_usage WHERE workspace = ?", (workspace,))
    return None if row is None else int(row["stored_bytes"])


async def recount(tx: Transaction, workspace: str) -> int:
    """Make the running count exact (the caller holds the workspace's quota lock, if anyone may raise it)."""
    exact = await workspace_bytes(tx, workspace)
    await tx.execute(
        "INSERT INTO workspace_usage (workspace, stored_bytes, counted_at) VALUES (?, ?, ?) "
        "ON CONFLICT (workspace) DO UPDATE SET stored_bytes = excluded.stored_bytes, counted_at = excluded.counted_at",
        (workspace, exact, time.time()))
    return exact


async def count_added(tx: Transaction, workspace: str, size: int) -> None:
    """Raise the running count by a blob new to the workspace, in the transaction that links it."""
    await tx.execute("UPDATE workspace_usage SET stored_bytes = stored_bytes + ? WHERE workspace = ?",
                     (size, workspace))


async def by_repository(db: Database, workspace: str) -> list[UsageLine]:
    rows = await db.fetchall(
        "SELECT r.workspace || '/' || r.slug AS name, COALESCE(SUM(b.size), 0) AS n FROM ("
        "SELECT DISTINCT p.repository_id, l.digest FROM package_blobs l JOIN packages p ON p.id = l.package_id "
        f"WHERE p.workspace = ? AND {COUNTS_AGAINST_WORKSPACE}) x "
        "JOIN blobs b ON b.digest = x.digest JOIN repositories r ON r.id = x.repository_id "
        "GROUP BY r.workspace, r.slug ORDER BY n DESC, name", (workspace,))
    return [UsageLine(row["name"], int(row["n"])) for row in rows]


async def by_package(db: Database, workspace: str) -> list[UsageLine]:
    rows = await db.fetchall(
        "SELECT p.type, p.workspace || '/' || p.name AS name, COALESCE(SUM(b.size), 0) AS n "
        "FROM package_blobs l JOIN packages p ON p.id = l.package_id JOIN blobs b ON b.digest = l.digest "
        f"WHERE p.workspace = ? AND {COUNTS_AGAINST_WORKSPACE} GROUP BY p.id, p.type, p.workspace, p.name "
        "ORDER BY n DESC, name", (workspace,))
    return [UsageLine(f"{row['type']} {row['name']}", int(row["n"])) for row in rows]


async def package_bytes(db: Database, package_ids: list[int]) -> dict[int, int]:
    if not package_ids:
        return {}
    marks = ", ".join("?" * len(package_ids))
    rows = await db.fetchall(
        "SELECT l.package_id, SUM(b.size) AS n FROM package_blobs l JOIN blobs b ON b.digest = l.digest "
        f"WHERE l.package_id IN ({marks}) GROUP BY l.package_id", tuple(package_ids))
    return {int(row["package_id"]): int(row["n"] or 0) for row in rows}


# --- metering ---

def month_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")


def _month_end(at: float) -> float:
    moment = datetime.fromtimestamp(at, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


def split_by_month(start: float, end: float) -> list[tuple[str, float]]:
    """The seconds of [start, end) in each calendar month (UTC)."""
    parts = []
    while start < end:
        stop = min(end, _month_end(start))
        parts.append((month_of(start), stop - start))
        start = stop
    return parts


async def sample(db: Database, at: float | None = None) -> int:
    """Meter every workspace's usage at ``at`` (now by default), and make its running count exact;
    returns how many were sampled.

    Each workspace is sampled in its own transaction under a lock, and a sample not later than the
    last one is skipped, so replicas sampling at once never count an interval twice.
    """
    at = time.time() if at is None else at
    sampled = 0
    for row in await db.fetchall("SELECT slug FROM workspaces ORDER BY slug"):
        workspace = row["slug"]
        async with db.transaction() as tx:
            await tx.lock(f"usage-sample:{workspace}")
            await tx.lock(f"quota:{workspace}")  # taken by commits that raise the running count
            stored = await recount(tx, workspace)
            last = await tx.fetchone("SELECT sampled_at, stored_bytes FROM usage_samples WHERE workspace = ?",
                                     (workspace,))
            if last is not None and at <= last["sampled_at"]:
                continue
            if last is not None:
                for month, seconds in split_by_month(float(last["sampled_at"]), at):
                    await tx.execute(
                        "INSERT INTO usage_meter (workspace, month, byte_seconds) VALUES (?, ?, ?) "
                        "ON CONFLICT (workspace, month) DO UPDATE SET "
                        "byte_seconds = usage_meter.byte_seconds + excluded.byte_seconds",
                        (workspace, month, int(last["stored_bytes"]) * seconds))
            await tx.execute(
                "INSERT INTO usage_samples (workspace, sampled_at, stored_bytes) VALUES (?, ?, ?) "
                "ON CONFLICT (workspace) DO UPDATE SET sampled_at = excluded.sampled_at, "
                "stored_bytes = excluded.stored_bytes", (workspace, at, stored))
        sampled += 1
    return sampled


async def gb_hours(db: Database, workspace: str, month: str) -> float:
    row = await db.fetchone("SELECT byte_seconds FROM usage_meter WHERE workspace = ? AND month = ?",
                            (workspace, month))
    return float(row["byte_seconds"]) / GB / HOUR if row else 0.0
