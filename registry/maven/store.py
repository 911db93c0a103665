"""The files of Maven packages in the metadata database (their bytes live in the content store)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from registry.maven.checksums import Checksums
from registry.storage.database import Database, Transaction

_FILE_COLUMNS = "version, filename, digest, size, md5, sha1, sha512, created_at"


class FileExists(Exception):
    """A release file is already there, with other content, and the server does not allow replacing it."""


@dataclass(frozen=True, slots=True)
class MavenFile:
    version: str
    filename: str
    digest: str  # "sha256:<hex>", the content store's key
    size: int
    checksums: Checksums
    created_at: float


def _file(row: dict) -> MavenFile:
    sha256 = row["digest"].split(":", 1)[1]
    return MavenFile(row["version"], row["filename"], row["digest"], int(row["size"]),
                     Checksums(row["md5"], row["sha1"], sha256, row["sha512"]), float(row["created_at"]))


class MavenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_file(self, package_id: int, version: str, filename: str) -> MavenFile | None:
        row = await self.db.fetchone(
            f"SELECT {_FILE_COLUMNS} FROM maven_files WHERE package_id = ? AND version = ? AND filename = ?",
            (package_id, version, filename),
        )
        return _file(row) if row else None

    async def put_file(self, package_id: int, version: str, filename: str, digest: str, size: int,
                       checksums: Checksums, replace: bool) -> bool:
        """Record a file; True if it replaced one. Raises FileExists if it is there and ``replace`` is off
        (checked in the write transaction: of two concurrent deploys of one release file, one wins)."""
        async with self.db.transaction() as tx:
            return await self.record_file(tx, package_id, version, filename, digest, size, checksums, replace)

    @staticmethod
    async def record_file(tx: Transaction, package_id: int, version: str, filename: str, digest: str, size: int,
                          checksums: Checksums, replace: bool) -> bool:
        """``put_file`` within the caller's transaction (the one that stores the blob, for small files).

        The same bytes again are no change (a retried deploy of a release succeeds), even when replacing
        is off."""
        now = time.time()
        values = (package_id, version, filename, digest, size, checksums.md5, checksums.sha1, checksums.sha512, now)
        existing = await tx.fetchone(
            "SELECT digest FROM maven_files WHERE package_id = ? AND version = ? AND filename = ?",
            (package_id, version, filename),
        )
        existed = existing is not None
        if existing is not None and existing["digest"] == digest:
            return True
        if existed and not replace:
            raise FileExists(filename)
        await tx.execute(
            "INSERT INTO maven_files (package_id, version, filename, digest, size, md5, sha1, sha512, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (package_id, version, filename) DO UPDATE SET "
            "digest = excluded.digest, size = excluded.size, md5 = excluded.md5, sha1 = excluded.sha1, "
            "sha512 = excluded.sha512, created_at = excluded.created_at",
            values,
        )
        # Strictly later than before, even within one clock tick: cached answers are keyed by it.
        await tx.execute(
            "UPDATE packages SET updated_at = CASE WHEN updated_at >= ? THEN updated_at + 0.000001 ELSE ? END "
            "WHERE id = ?",
            (now, now, package_id),
        )
        return existed

    async def remove_files(self, package_id: int, version: str, filenames: list[str]) -> None:
        """Delete files of a version (a retention policy's old SNAPSHOT builds); their blobs are left to gc."""
        async with self.db.transaction() as tx:
            for filename in filenames:
                await tx.execute("DELETE FROM maven_files WHERE package_id = ? AND version = ? AND filename = ?",
                                 (package_id, version, filename))
            # Cached files and derived metadata are keyed by the package's updated_at.
            await tx.execute("UPDATE packages SET updated_at = ? WHERE id = ?", (time.time(), package_id))

    async def files(self, package_id: int, version: str | None = None) -> list[MavenFile]:
        """The package's files (of one version), oldest first: what maven-metadata.xml is derived from."""
        sql = f"SELECT {_FILE_COLUMNS} FROM maven_files WHERE package_id = ?"
        params: tuple = (package_id,)
        if version is not None:
            sql += " AND version = ?"
            params += (version,)
        return [_file(row) for row in await self.db.fetchall(sql + " ORDER BY created_at, filename", params)]

    async def versions(self, package_id: int) -> list[tuple[str, float, float]]:
        """(version, first upload, last upload) of every version that has a file, in deploy order."""
        rows = await self.db.fetchall(
            "SELECT version, MIN(created_at) AS first_at, MAX(created_at) AS last_at FROM maven_files "
            "WHERE package_id = ? GROUP BY version ORDER BY first_at, version",
            (package_id,),
        )
        return [(row["version"], float(row["first_at"]), float(row["last_at"])) for row in rows]

    async def version_counts(self, package_ids: list[int]) -> dict[int, int]:
        """How many versions each package has (for the web UI's lists)."""
        if not package_ids:
            return {}
        marks = ", ".join("?" * len(package_ids))
        rows = await self.db.fetchall(
            f"SELECT package_id, COUNT(DISTINCT version) AS n FROM maven_files WHERE package_id IN ({marks}) "
            "GROUP BY package_id",
            tuple(package_ids))
        return {int(row["package_id"]): int(row["n"]) for row in rows}
