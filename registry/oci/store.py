"""Manifests, tags and referrers of container packages in the metadata database."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from registry import immutable
from registry.content import blob_lock
from registry.oci.errors import OciError, manifest_unknown
from registry.oci.manifests import ParsedManifest
from registry.storage.database import Database, Row


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes
    subject: str | None = None


async def mark_untagged(tx, package_id: int, digests: list[str], now: float) -> None:
    """Note that these manifests lost what kept them (a tag, a parent index, a subject): garbage
    collection removes those of them that have no tag and no parent once the grace period has passed."""
    for digest in digests:
        await tx.execute(
            "UPDATE manifests SET untagged_at = ? WHERE package_id = ? AND digest = ? AND untagged_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.package_id = ? AND t.digest = ?)",
            (now, package_id, digest, package_id, digest),
        )


async def dependents(tx, package_id: int, digest: str) -> list[str]:
    """The manifests that stay only for this one: an index's children, and the referrers of a subject."""
    rows = await tx.fetchall(
        "SELECT ref_digest AS digest FROM manifest_refs WHERE package_id = ? AND manifest_digest = ? "
        "AND kind = 'manifest' UNION SELECT digest FROM manifests WHERE package_id = ? AND subject = ?",
        (package_id, digest, package_id, digest),
    )
    return [row["digest"] for row in rows]


async def _breathe(i: int) -> None:
    """SQLite's statements run inline on the event loop: a manifest of thousands of references lets
    other requests go on every few hundred statements."""
    if i % 256 == 255:
        await asyncio.sleep(0)


class OciStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_manifest(self, package_id: int, reference: str, by_digest: bool) -> StoredManifest | None:
        if by_digest:
            row = await self.db.fetchone(
                "SELECT digest, media_type, content, subject FROM manifests WHERE package_id = ? AND digest = ?",
                (package_id, reference),
            )
        else:
            row = await self.db.fetchone(
                "SELECT m.digest, m.media_type, m.content, m.subject FROM tags t JOIN manifests m "
                "ON m.package_id = t.package_id AND m.digest = t.digest WHERE t.package_id = ? AND t.name = ?",
                (package_id, reference),
            )
        if row is None:
            return None
        return StoredManifest(row["digest"], row["media_type"], bytes(row["content"]), row["subject"])

    async def put_manifest(self, package_id: int, digest: str, content: bytes, parsed: ParsedManifest,
                           tag: str | None) -> None:
        """Store a manifest (and move a tag to it) once everything it references is in the package."""
        now = time.time()
        async with self.db.transaction() as tx:
            # Checked under the blobs' locks, so garbage collection cannot remove one in between
            # (sorted: two pushes sharing layers take the locks in the same order). The manifest's own
            # digest and its children's are locked too: gc removes untagged manifests under them.
            for i, blob in enumerate(sorted(set(parsed.blobs) | set(parsed.manifests) | {digest})):
                await tx.lock(blob_lock(blob))
                await _breathe(i)
            for i, blob in enumerate(dict.fromkeys(parsed.blobs)):
                await _breathe(i)
                if await tx.fetchone("SELECT 1 AS x FROM package_blobs WHERE package_id = ? AND digest = ?",
                                     (package_id, blob)) is None:
                    raise OciError("MANIFEST_BLOB_UNKNOWN", "manifest references a blob unknown to the repository",
                                   400, {"digest": blob})
            for i, child in enumerate(dict.fromkeys(parsed.manifests)):
                await _breathe(i)
                if await tx.fetchone("SELECT 1 AS x FROM manifests WHERE package_id = ? AND digest = ?",
                                     (package_id, child)) is None:
                    raise OciError("MANIFEST_BLOB_UNKNOWN",
                                   "index references a manifest unknown to the repository", 400, {"digest": child})
            await tx.execute(
                "INSERT INTO manifests (package_id, digest, media_type, artifact_type, subject, size, content, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (package_id, digest) DO NOTHING",
                (package_id, digest, parsed.media_type, parsed.artifact_type, parsed.subject, len(content), content,
                 now),
            )
            refs = [(b, "blob") for b in dict.fromkeys(parsed.blobs)]
            refs += [(m, "manifest") for m in dict.fromkeys(parsed.manifests)]
            for i, (ref, kind) in enumerate(refs):
                await _breathe(i)
                await tx.execute(
                    "INSERT INTO manifest_refs (package_id, manifest_digest, ref_digest, kind) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (package_id, digest, ref, kind),
                )
            # Pushed again (by tag or by digest): wanted again, no longer collectable.
            await tx.execute("UPDATE manifests SET untagged_at = NULL WHERE package_id = ? AND digest = ? "
                             "AND untagged_at IS NOT NULL", (package_id, digest))
            if tag is not None:
                row = await tx.fetchone("SELECT digest FROM tags WHERE package_id = ? AND name = ?",
                                        (package_id, tag))
                previous = None if row is None else row["digest"]
                await immutable.check_move(tx, package_id, tag, previous, digest)
                await tx.execute(
                    "INSERT INTO tags (package_id, name, digest, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (package_id, name) DO UPDATE SET digest = excluded.digest, "
                    "updated_at = excluded.updated_at",
                    (package_id, tag, digest, now),
                )
                if previous is not None and previous != digest:
                    await mark_untagged(tx, package_id, [previous], now)
            await tx.execute("UPDATE packages SET updated_at = ? WHERE id = ?", (now, package_id))

    async def delete_manifest(self, package_id: int, digest: str) -> None:
        async with self.db.transaction() as tx:
            await immutable.check_delete(tx, package_id, [
                row["name"] for row in await tx.fetchall("SELECT name FROM tags WHERE package_id = ? AND digest = ?",
                                                         (package_id, digest))])
            await mark_untagged(tx, package_id, await dependents(tx, package_id, digest), time.time())
            if await tx.execute("DELETE FROM manifests WHERE package_id = ? AND digest = ?", (package_id, digest)) == 0:
                raise manifest_unknown(digest)
            await tx.execute("DELETE FROM tags WHERE package_id = ? AND digest = ?", (package_id, digest))
            await tx.execute("DELETE FROM manifest_refs WHERE package_id = ? AND manifest_digest = ?",
                             (package_id, digest))

    async def delete_tag(self, package_id: int, tag: str) -> None:
        """Remove a tag; its manifest becomes collectable once no other tag points at it."""
        async with self.db.transaction() as tx:
            await immutable.check_delete(tx, package_id, [tag])
            row = await tx.fetchone("SELECT digest FROM tags WHERE package_id = ? AND name = ?", (package_id, tag))
            if row is None or await tx.execute("DELETE FROM tags WHERE package_id = ? AND name = ?",
                                               (package_id, tag)) == 0:
                raise manifest_unknown(tag)
            await mark_untagged(tx, package_id, [row["digest"]], time.time())

    async def list_tags(self, package_id: int, after: str, limit: int) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT name FROM tags WHERE package_id = ? AND name > ? ORDER BY name LIMIT ?",
            (package_id, after, limit),
        )
        return [row["name"] for row in rows]

    async def referrers(self, package_id: int, subject: str, artifact_type: str | None) -> list[Row]:
        sql = ("SELECT digest, media_type, artifact_type, size, content FROM manifests "
               "WHERE package_id = ? AND subject = ?")
        params: tuple = (package_id, subject)
        if artifact_type is not None:
            sql += " AND artifact_type = ?"
            params += (artifact_type,)
        return await self.db.fetchall(sql + " ORDER BY digest", params)

    async def newest_referrers(self, package_id: int, subject: str, artifact_type: str, limit: int,
                               content_up_to: int) -> list[Row]:
        """The ``limit`` referrers of this type pushed last (digest, size, and the content of those of up to
        ``content_up_to`` bytes): a bounded read for checks that look into referrers."""
        return await self.db.fetchall(
            "SELECT digest, size, CASE WHEN size <= ? THEN content END AS content FROM manifests "
            "WHERE package_id = ? AND subject = ? AND artifact_type = ? ORDER BY created_at DESC, digest LIMIT ?",
            (content_up_to, package_id, subject, artifact_type, limit),
        )

    # --- what the UI shows ---

    async def tags_with_manifests(self, package_id: int, limit: int, content_up_to: int) -> list[Row]:
        """The ``limit`` tags pushed last, with their manifests (the content only of those of up to
        ``content_up_to`` bytes: reading megabytes of manifests for a list would hold up the loop)."""
        return await self.db.fetchall(
            "SELECT t.name, t.digest, t.updated_at, m.media_type, m.size, m.created_at, "
            "CASE WHEN m.size <= ? THEN m.content END AS content FROM tags t "
            "JOIN manifests m ON m.package_id = t.package_id AND m.digest = t.digest "
            "WHERE t.package_id = ? ORDER BY t.updated_at DESC, t.name LIMIT ?",
            (content_up_to, package_id, limit),
        )

    async def manifest_info(self, package_id: int, digest: str) -> Row | None:
        return await self.db.fetchone(
            "SELECT digest, media_type, artifact_type, subject, size, content, created_at FROM manifests "
            "WHERE package_id = ? AND digest = ?",
            (package_id, digest),
        )

    async def parents(self, package_id: int, digest: str, limit: int) -> list[str]:
        """Indexes of the package that list this manifest (up to ``limit``)."""
        rows = await self.db.fetchall(
            "SELECT manifest_digest FROM manifest_refs WHERE package_id = ? AND ref_digest = ? AND kind = 'manifest' "
            "ORDER BY manifest_digest LIMIT ?", (package_id, digest, limit))
        return [row["manifest_digest"] for row in rows]

    async def tags_of(self, package_id: int, digest: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT name FROM tags WHERE package_id = ? AND digest = ? ORDER BY name", (package_id, digest)
        )
        return [row["name"] for row in rows]

    async def tag_counts(self, package_ids: list[int]) -> dict[int, int]:
        if not package_ids:
            return {}
        marks = ", ".join("?" * len(package_ids))
        rows = await self.db.fetchall(
            f"SELECT package_id, COUNT(*) AS n FROM tags WHERE package_id IN ({marks}) GROUP BY package_id",
            tuple(package_ids),
        )
        return {int(row["package_id"]): int(row["n"]) for row in rows}
