"""Online garbage collection: safe while pushes go on.

Mark and sweep in small transactions:
0. Delete container manifests that lost their last tag (or their parent index, or their subject)
   longer than the grace period ago and that nothing refers to any more: no tag, no index listing
   them, no subject still present. Manifests pushed by digest only (an index's children, signatures
   and other referrers) are never collected for themselves: they go with what they belong to, one
   level per grace period. Their layers are then unreferenced, and go in the steps below.
1. Unlink from each package the blobs that nothing of that package references
   (a manifest, an npm version, a Maven file), once their link is older than
   the grace period (so a blob pushed a moment ago, whose manifest or version
   record is still on its way, is kept).
2. Delete blobs that no package links any more (same grace), each inside a
   write transaction that re-checks it, because committing an upload happens
   inside one too: a blob can never vanish between being re-uploaded and
   being recorded.
3. Drop upload sessions untouched for longer than the grace period, unless one holds a lease
   (it is receiving bytes: see ``registry.content``).
4. Delete stored blobs the database does not know (a crash between an upload's rename and its
   commit leaves one); re-checked inside a write transaction, as in step 2.
5. Sweep the store's upload area: sessions the database does not know (a crash in ``store_small``
   or mid-start leaves them), untouched for the grace period; and the store's own unfinished writes
   (S3 multipart uploads).

Files go before (or without) rows wherever a full disk could refuse the database write: the
collector is what frees a full disk. Deadlocks and serialisation failures against live pushes
(PostgreSQL) are retried, a few times.

``serve --gc-interval`` runs it in the background, one process or replica at a time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from registry.content import ContentService, blob_lock
from registry.oci.store import dependents, mark_untagged
from registry.storage.database import Database
from registry.storage.faults import StorageFault, StorageFull, TransactionConflict
from registry.storage.probe import PROBE_UPLOAD_MIN_AGE, PROBE_UPLOAD_PREFIX

log = logging.getLogger("packages_registry")
T = TypeVar("T")
# The key of the lock that lets one collector run at a time (across processes and replicas).
COLLECTOR_LOCK = "gc"


class CollectorBusy(Exception):
    def __init__(self) -> None:
        super().__init__("another garbage collection is running on this database: try again when it is done")


async def _retrying(work: Callable[[], Awaitable[T]]) -> T:
    """Run one of the collector's transactions again when the database aborted it for a deadlock."""
    async for attempt in AsyncRetrying(retry=retry_if_exception_type(TransactionConflict),
                                       stop=stop_after_attempt(5),
                                       wait=wait_random_exponential(multiplier=0.05, max=1.0),
                                       reraise=True):
        with attempt:
            return await work()
    raise AssertionError("unreachable")


@dataclass
class GcReport:
    manifests_deleted: int = 0
    unlinked: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    uploads_dropped: int = 0
    strays_deleted: int = 0
    upload_files_swept: int = 0
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        return (f"{self.unlinked} unreferenced blob links, {self.blobs_deleted} blobs ({self.bytes_freed} bytes) "
                f"{verb}, {self.uploads_dropped} stale uploads, {self.strays_deleted} unrecorded blob files, "
                f"{self.upload_files_swept} unrecorded upload files, {self.manifests_deleted} untagged manifests")


# What keeps a blob linked to its package: rows of (table, digest column) that also carry the
# package_id. Listed here, not registered by each protocol's module, so that `packages-registry gc`
# knows them all without importing the protocols. (A wheel's core metadata file is a blob only for
# uploads by earlier releases: now it is kept in its file's row.)
REFERENCES = (("manifest_refs", "ref_digest"), ("npm_versions", "digest"), ("maven_files", "digest"),
              ("pypi_files", "digest"), ("pypi_files", "metadata_digest"))


def _unreferenced(link: str) -> str:
    """SQL conditions true when nothing references the link ``link`` (an alias of package_blobs)."""
    return " AND ".join(f"NOT EXISTS (SELECT 1 FROM {table} r WHERE r.package_id = {link}.package_id "
                        f"AND r.{column} = {link}.digest)" for table, column in REFERENCES)


# An untagged manifest (alias m) that nothing keeps: no tag, no index listing it, no subject present.
_UNKEPT_MANIFEST = (
    "m.untagged_at IS NOT NULL AND m.untagged_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.package_id = m.package_id AND t.digest = m.digest) "
    "AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.package_id = m.package_id "
    "AND r.ref_digest = m.digest AND r.kind = 'manifest') "
    "AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.package_id = m.package_id "
    "AND s.digest = m.subject))"
)


async def _collect_untagged_manifests(db: Database, cutoff: float, report: GcReport) -> None:
    for row in await db.fetchall(f"SELECT m.package_id, m.digest FROM manifests m WHERE {_UNKEPT_MANIFEST}",
                                 (cutoff,)):
        report.manifests_deleted += 1
        if report.dry_run:
            continue
        package_id, digest = row["package_id"], row["digest"]

        async def delete(package_id=package_id, digest=digest) -> bool:
            async with db.transaction() as tx:
                # put_manifest takes this lock for the manifest and its children: a push that tags it
                # again, or an index that lists it, cannot slip in between the check and the delete.
                await tx.lock(blob_lock(digest))
                still = await tx.fetchone(f"SELECT m.digest FROM manifests m WHERE m.package_id = ? AND m.digest = ? "
                                          f"AND {_UNKEPT_MANIFEST}", (package_id, digest, cutoff))
                if still is None:
                    return False
                await mark_untagged(tx, package_id, await dependents(tx, package_id, digest), time.time())
                await tx.execute("DELETE FROM manifest_refs WHERE package_id = ? AND manifest_digest = ?",
                                 (package_id, digest))
                await tx.execute("DELETE FROM manifests WHERE package_id = ? AND digest = ?", (package_id, digest))
                return True

        try:
            if not await _retrying(delete):
                report.manifests_deleted -= 1
        except StorageFull:
            pass  # a full disk: the blobs go first (below), this on the next run


async def collect(db: Database, content: ContentService, grace_seconds: float, dry_run: bool = False) -> GcReport:
    report = GcReport(dry_run=dry_run)
    cutoff = time.time() - grace_seconds
    await _collect_untagged_manifests(db, cutoff, report)
    unreferenced = f"SELECT l.package_id, l.digest FROM package_blobs l WHERE l.linked_at < ? AND {_unreferenced('l')}"
    for row in await db.fetchall(unreferenced, (cutoff,)):
        report.unlinked += 1
        if not dry_run:
            async def unlink(row=row) -> None:
                async with db.transaction() as tx:
                    await tx.lock(blob_lock(row["digest"]))
                    await tx.execute(
                        f"DELETE FROM package_blobs WHERE package_id = ? AND digest = ? AND linked_at < ? AND "
                        f"{_unreferenced('package_blobs')}",
                        (row["package_id"], row["digest"], cutoff),
                    )

            try:
                await _retrying(unlink)
            except StorageFull:
                pass  # a full disk: the blobs below go first, then the next run unlinks
    orphans = await db.fetchall(
        "SELECT digest, size FROM blobs b WHERE created_at < ? AND NOT EXISTS "
        "(SELECT 1 FROM package_blobs l WHERE l.digest = b.digest)",
        (cutoff,),
    )
    if dry_run:
        # Blobs step 1 would unlink are orphans too once it runs.
        pending = await db.fetchall(
            f"SELECT b.digest, b.size FROM blobs b WHERE b.created_at < ? AND NOT EXISTS ("
            f"SELECT 1 FROM package_blobs l WHERE l.digest = b.digest AND (l.package_id, l.digest) NOT IN "
            f"({unreferenced}))",
            (cutoff, cutoff),
        )
        orphans = pending
    for row in orphans:
        if dry_run:
            report.blobs_deleted += 1
            report.bytes_freed += int(row["size"])
            continue
        async def delete(row=row) -> bool:
            async with db.transaction() as tx:
                await tx.lock(blob_lock(row["digest"]))
                deleted = await tx.execute(
                    "DELETE FROM blobs WHERE digest = ? AND created_at < ? AND NOT EXISTS "
                    "(SELECT 1 FROM package_blobs l WHERE l.digest = ?)",
                    (row["digest"], cutoff, row["digest"]),
                )
                if deleted:
                    # Before the commit: if a full disk refuses it, the space is back all the same, and
                    # the row (of a blob no package links) goes on the next run.
                    await content.blobs.delete(row["digest"])
                return bool(deleted)

        try:
            deleted = await _retrying(delete)
        except StorageFull:
            deleted = True
        if deleted:
            report.blobs_deleted += 1
            report.bytes_freed += int(row["size"])
    now = time.time()
    for row in await db.fetchall("SELECT id FROM uploads WHERE updated_at < ? AND lease_until < ?", (cutoff, now)):
        report.uploads_dropped += 1
        if not dry_run:
            await _drop_stale_upload(db, content, row["id"], cutoff, now)
    async for digest in content.blobs.list_digests():
        if await db.fetchone("SELECT 1 AS x FROM blobs WHERE digest = ?", (digest,)) is not None:
            continue
        if dry_run:
            report.strays_deleted += 1
            continue
        async def delete_stray(digest=digest) -> bool:
            async with db.transaction() as tx:
                await tx.lock(blob_lock(digest))
                # An upload being committed renames its file inside a transaction like this one: once we
                # hold the lock, a file with no row is one that no commit will ever record.
                if await tx.fetchone("SELECT 1 AS x FROM blobs WHERE digest = ?", (digest,)) is None:
                    await content.blobs.delete(digest)
                    return True
                return False

        try:
            deleted = await _retrying(delete_stray)
        except StorageFull:
            deleted = True  # the file went before the commit that a full disk refused
        if deleted:
            report.strays_deleted += 1
    await _sweep_upload_area(db, content, cutoff, report)
    return report


async def _drop_stale_upload(db: Database, content: ContentService, upload_id: str, cutoff: float,
                             now: float) -> None:
    """Drop a session untouched since ``cutoff`` and holding no lease: its row first (re-checked, so a
    session that took a lease meanwhile stays), then its bytes."""
    async def forget() -> int:
        async with db.transaction() as tx:
            return await tx.execute("DELETE FROM uploads WHERE id = ? AND updated_at < ? AND lease_until < ?",
                                    (upload_id, cutoff, now))

    try:
        dropped = await _retrying(forget)
    except StorageFull:
        dropped = True  # a full disk: the bytes of a session idle this long go all the same; the row next time
    if dropped:
        await content.blobs.cancel(upload_id)


async def _sweep_upload_area(db: Database, content: ContentService, cutoff: float, report: GcReport) -> None:
    async for upload_id, modified in content.blobs.list_uploads():
        if modified >= cutoff:
            continue
        if upload_id.startswith(PROBE_UPLOAD_PREFIX) and modified >= time.time() - PROBE_UPLOAD_MIN_AGE:
            continue  # a replica starting up is checking its blob store with it (no session row)
        if await db.fetchone("SELECT 1 AS x FROM uploads WHERE id = ?", (upload_id,)) is not None:
            continue  # a recorded session: step 3 decides
        report.upload_files_swept += 1
        if not report.dry_run:
            await content.blobs.cancel(upload_id)
    if not report.dry_run:
        report.upload_files_swept += await content.blobs.abort_incomplete(cutoff)


async def collect_exclusively(db: Database, content: ContentService, grace_seconds: float,
                              dry_run: bool = False) -> GcReport:
    """``collect`` under the collector lock; CollectorBusy if another process holds it."""
    async with db.exclusive(COLLECTOR_LOCK) as taken:
        if not taken:
            raise CollectorBusy()
        return await collect(db, content, grace_seconds, dry_run)


async def collect_periodically(db: Database, content: ContentService, interval: float, grace_seconds: float
                               ) -> None:
    """The background collector of ``serve --gc-interval``: every ``interval`` seconds (spread a little,
    so replicas started together do not all try at once), one process or replica at a time."""
    while True:
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))
        try:
            report = await collect_exclusively(db, content, grace_seconds)
        except CollectorBusy:
            continue
        except StorageFault as exc:
            log.warning("background garbage collection stopped: %s (next run in %g s)", exc, interval)
            continue
        except Exception:
            log.exception("background garbage collection failed")
            continue
        log.info("background garbage collection: %s", report)
