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
3. Drop upload sessions untouched for longer than the grace period.
4. Delete stored blobs the database does not know (a crash between an upload's rename and its
   commit leaves one); re-checked inside a write transaction, as in step 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from registry.content import ContentService, blob_lock
from registry.oci.store import dependents, mark_untagged
from registry.storage.database import Database


@dataclass
class GcReport:
    manifests_deleted: int = 0
    unlinked: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    uploads_dropped: int = 0
    strays_deleted: int = 0
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        return (f"{self.unlinked} unreferenced blob links, {self.blobs_deleted} blobs ({self.bytes_freed} bytes) "
                f"{verb}, {self.uploads_dropped} stale uploads, {self.strays_deleted} unrecorded blob files, "
                f"{self.manifests_deleted} untagged manifests")


# What keeps a blob linked to its package: rows of (table, digest column) that also carry the
# package_id. Listed here, not registered by each protocol's module, so that `packages-registry gc`
# knows them all without importing the protocols.
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
        async with db.transaction() as tx:
            # put_manifest takes this lock for the manifest and its children: a push that tags it
            # again, or an index that lists it, cannot slip in between the check and the delete.
            await tx.lock(blob_lock(digest))
            still = await tx.fetchone(f"SELECT m.digest FROM manifests m WHERE m.package_id = ? AND m.digest = ? "
                                      f"AND {_UNKEPT_MANIFEST}", (package_id, digest, cutoff))
            if still is None:
                report.manifests_deleted -= 1
                continue
            await mark_untagged(tx, package_id, await dependents(tx, package_id, digest), time.time())
            await tx.execute("DELETE FROM manifest_refs WHERE package_id = ? AND manifest_digest = ?",
                             (package_id, digest))
            await tx.execute("DELETE FROM manifests WHERE package_id = ? AND digest = ?", (package_id, digest))


async def collect(db: Database, content: ContentService, grace_seconds: float, dry_run: bool = False) -> GcReport:
    report = GcReport(dry_run=dry_run)
    cutoff = time.time() - grace_seconds
    await _collect_untagged_manifests(db, cutoff, report)
    unreferenced = f"SELECT l.package_id, l.digest FROM package_blobs l WHERE l.linked_at < ? AND {_unreferenced('l')}"
    for row in await db.fetchall(unreferenced, (cutoff,)):
        report.unlinked += 1
        if not dry_run:
            async with db.transaction() as tx:
                await tx.lock(blob_lock(row["digest"]))
                await tx.execute(
                    f"DELETE FROM package_blobs WHERE package_id = ? AND digest = ? AND linked_at < ? AND "
                    f"{_unreferenced('package_blobs')}",
                    (row["package_id"], row["digest"], cutoff),
                )
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
        async with db.transaction() as tx:
            await tx.lock(blob_lock(row["digest"]))
            deleted = await tx.execute(
                "DELETE FROM blobs WHERE digest = ? AND created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM package_blobs l WHERE l.digest = ?)",
                (row["digest"], cutoff, row["digest"]),
            )
            if deleted:
                await content.blobs.delete(row["digest"])
                report.blobs_deleted += 1
                report.bytes_freed += int(row["size"])
    for row in await db.fetchall("SELECT id FROM uploads WHERE updated_at < ?", (cutoff,)):
        report.uploads_dropped += 1
        if not dry_run:
            await content.cancel(row["id"])
    async for digest in content.blobs.list_digests():
        if await db.fetchone("SELECT 1 AS x FROM blobs WHERE digest = ?", (digest,)) is not None:
            continue
        if dry_run:
            report.strays_deleted += 1
            continue
        async with db.transaction() as tx:
            await tx.lock(blob_lock(digest))
            # An upload being committed renames its file inside a transaction like this one: once we
            # hold the lock, a file with no row is one that no commit will ever record.
            if await tx.fetchone("SELECT 1 AS x FROM blobs WHERE digest = ?", (digest,)) is None:
                await content.blobs.delete(digest)
                report.strays_deleted += 1
    return report
