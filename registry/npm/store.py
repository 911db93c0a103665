"""npm versions, dist-tags and packument revisions in the metadata database.

Every write bumps the package's revision (its ``_rev``) in the same transaction, so a reader that
sees the revision unchanged may keep serving what it rendered before.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from registry.storage.database import Database, Row, Transaction


class VersionExists(Exception):
    pass


class StaleRevision(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Revision:
    rev: int
    created_at: float
    modified_at: float


@dataclass(frozen=True, slots=True)
class StoredVersion:
    version: str
    manifest: dict
    readme: str | None
    digest: str
    size: int
    deprecated: str | None
    created_at: float


def _version(row: Row) -> StoredVersion:
    return StoredVersion(row["version"], json.loads(row["manifest"]), row.get("readme"), row["digest"],
                         int(row["size"]), row["deprecated"], float(row["created_at"]))


def rev_string(package_id: int, revision: Revision) -> str:
    """The packument's ``_rev``, CouchDB style: the write count and a tag unique to this package."""
    tag = hashlib.md5(f"{package_id}:{revision.rev}:{revision.created_at!r}".encode(), usedforsecurity=False)
    return f"{revision.rev}-{tag.hexdigest()}"


def _lock(package_id: int) -> str:
    return f"npm:{package_id}"


class NpmStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def revision(self, package_id: int) -> Revision | None:
        row = await self.db.fetchone(
            "SELECT rev, created_at, modified_at FROM npm_packuments WHERE package_id = ?", (package_id,))
        return Revision(int(row["rev"]), row["created_at"], row["modified_at"]) if row else None

    async def versions(self, package_id: int, with_readme: bool = False) -> list[StoredVersion]:
        readme = "readme" if with_readme else "NULL AS readme"
        rows = await self.db.fetchall(
            f"SELECT version, manifest, {readme}, digest, size, deprecated, created_at FROM npm_versions "
            "WHERE package_id = ?", (package_id,))
        return [_version(row) for row in rows]

    async def version(self, package_id: int, version: str) -> StoredVersion | None:
        row = await self.db.fetchone(
            "SELECT version, manifest, readme, digest, size, deprecated, created_at FROM npm_versions "
            "WHERE package_id = ? AND version = ?", (package_id, version))
        return _version(row) if row else None

    async def readme(self, package_id: int, version: str) -> str | None:
        row = await self.db.fetchone("SELECT readme FROM npm_versions WHERE package_id = ? AND version = ?",
                                     (package_id, version))
        return row["readme"] if row else None

    async def tarball(self, package_id: int, version: str) -> str | None:
        row = await self.db.fetchone("SELECT digest FROM npm_versions WHERE package_id = ? AND version = ?",
                                     (package_id, version))
        return row["digest"] if row else None

    async def dist_tags(self, package_id: int) -> dict[str, str]:
        rows = await self.db.fetchall("SELECT tag, version FROM npm_dist_tags WHERE package_id = ? ORDER BY tag",
                                      (package_id,))
        return {row["tag"]: row["version"] for row in rows}

    async def _bump(self, tx: Transaction, package_id: int, expected: str | None, now: float) -> None:
        row = await tx.fetchone("SELECT rev, created_at, modified_at FROM npm_packuments WHERE package_id = ?",
                                (package_id,))
        if row is None:
            if expected is not None:
                raise StaleRevision()
            await tx.execute("INSERT INTO npm_packuments (package_id, rev, created_at, modified_at) "
                             "VALUES (?, 1, ?, ?)", (package_id, now, now))
            return
        current = Revision(int(row["rev"]), row["created_at"], row["modified_at"])
        if expected is not None and expected != rev_string(package_id, current):
            raise StaleRevision()
        await tx.execute("UPDATE npm_packuments SET rev = rev + 1, modified_at = ? WHERE package_id = ?",
                         (max(now, row["modified_at"]), package_id))

    async def add_version(self, tx: Transaction, package_id: int, version: str, manifest: dict, readme: str | None,
                          digest: str, integrity: str, shasum: str, size: int, tags: dict[str, str]) -> None:
        """Record a published version (inside the transaction that links its tarball)."""
        now = time.time()
        await tx.lock(_lock(package_id))
        if await tx.fetchone("SELECT 1 AS x FROM npm_versions WHERE package_id = ? AND version = ?",
                             (package_id, version)) is not None:
            raise VersionExists(version)
        await self._bump(tx, package_id, None, now)
        await tx.execute(
            "INSERT INTO npm_versions (package_id, version, manifest, readme, digest, integrity, shasum, size, "
            "deprecated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (package_id, version, json.dumps(manifest, separators=(",", ":")), readme, digest, integrity,
             shasum, size, now),
        )
        for tag, target in tags.items():
            await self._set_tag(tx, package_id, tag, target)
        await tx.execute("UPDATE packages SET updated_at = ? WHERE id = ?", (now, package_id))

    @staticmethod
    async def _set_tag(tx: Transaction, package_id: int, tag: str, version: str) -> None:
        await tx.execute(
            "INSERT INTO npm_dist_tags (package_id, tag, version) VALUES (?, ?, ?) "
            "ON CONFLICT (package_id, tag) DO UPDATE SET version = excluded.version",
            (package_id, tag, version),
        )

    async def set_tag(self, package_id: int, tag: str, version: str) -> bool:
        """Point a dist-tag at a version; False if there is no such version."""
        async with self.db.transaction() as tx:
            await tx.lock(_lock(package_id))
            if await tx.fetchone("SELECT 1 AS x FROM npm_versions WHERE package_id = ? AND version = ?",
                                 (package_id, version)) is None:
                return False
            await self._bump(tx, package_id, None, time.time())
            await self._set_tag(tx, package_id, tag, version)
        return True

    async def remove_tag(self, package_id: int, tag: str) -> bool:
        async with self.db.transaction() as tx:
            await tx.lock(_lock(package_id))
            if not await tx.execute("DELETE FROM npm_dist_tags WHERE package_id = ? AND tag = ?", (package_id, tag)):
                return False
            await self._bump(tx, package_id, None, time.time())
        return True

    async def update(self, package_id: int, expected_rev: str | None, deprecations: dict[str, str | None],
                     removed: list[str], tags: dict[str, str] | None) -> list[str]:
        """Apply a metadata PUT (deprecations, removed versions, dist-tags) as one revision.

        Returns the digests of the removed versions' tarballs (to unlink). Tags pointing at removed
        or unknown versions are dropped.
        """
        async with self.db.transaction() as tx:
            await tx.lock(_lock(package_id))
            await self._bump(tx, package_id, expected_rev, time.time())
            for version, message in deprecations.items():
                await tx.execute("UPDATE npm_versions SET deprecated = ? WHERE package_id = ? AND version = ?",
                                 (message, package_id, version))
            digests = []
            for version in removed:
                row = await tx.fetchone("SELECT digest FROM npm_versions WHERE package_id = ? AND version = ?",
                                        (package_id, version))
                if row is not None:
                    digests.append(row["digest"])
                    await tx.execute("DELETE FROM npm_versions WHERE package_id = ? AND version = ?",
                                     (package_id, version))
            if tags is not None:
                await tx.execute("DELETE FROM npm_dist_tags WHERE package_id = ?", (package_id,))
                for tag, version in tags.items():
                    if await tx.fetchone("SELECT 1 AS x FROM npm_versions WHERE package_id = ? AND version = ?",
                                         (package_id, version)) is not None:
                        await self._set_tag(tx, package_id, tag, version)
            else:
                await tx.execute("DELETE FROM npm_dist_tags WHERE package_id = ? AND version NOT IN "
                                 "(SELECT version FROM npm_versions WHERE package_id = ?)", (package_id, package_id))
        return digests

    async def digest_in_use(self, package_id: int, digest: str) -> bool:
        return await self.db.fetchone("SELECT 1 AS x FROM npm_versions WHERE package_id = ? AND digest = ?",
                                      (package_id, digest)) is not None

    async def latest_versions(self, package_ids: list[int]) -> dict[int, StoredVersion]:
        """The version each package's ``latest`` tag points at (for search results)."""
        found: dict[int, StoredVersion] = {}
        for package_id in package_ids:
            row = await self.db.fetchone(
                "SELECT v.version, v.manifest, NULL AS readme, v.digest, v.size, v.deprecated, v.created_at "
                "FROM npm_dist_tags t JOIN npm_versions v ON v.package_id = t.package_id AND v.version = t.version "
                "WHERE t.package_id = ? AND t.tag = 'latest'", (package_id,))
            if row is not None:
                found[package_id] = _version(row)
        return found

    async def version_counts(self, package_ids: list[int]) -> dict[int, int]:
        """How many versions each package has (for the web UI's lists)."""
        if not package_ids:
            return {}
        marks = ", ".join("?" * len(package_ids))
        rows = await self.db.fetchall(
            f"SELECT package_id, COUNT(*) AS n FROM npm_versions WHERE package_id IN ({marks}) "
            "GROUP BY package_id",
            tuple(package_ids))
        return {int(row["package_id"]): int(row["n"]) for row in rows}
