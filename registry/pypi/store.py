"""The files and versions of PyPI projects in the metadata database (their bytes live in the content store)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from registry.offload import off_loop
from registry.pypi.distributions import WHEEL, Distribution
from registry.storage.database import Database, IntegrityError, Transaction

_FILE_COLUMNS = ("filename, version, packagetype, python_version, requires_python, digest, size, md5, blake2_256, "
                 "metadata_digest, yanked_reason, yanked_at, uploaded_by, created_at")


class FileExists(Exception):
    """A file of that name was uploaded before (PyPI never replaces a file)."""


@dataclass(frozen=True, slots=True)
class PypiFile:
    filename: str
    version: str
    packagetype: str
    python_version: str
    requires_python: str | None
    digest: str  # "sha256:<hex>", the content store's key
    size: int
    md5: str
    blake2_256: str
    metadata_digest: str | None  # the core metadata file's (wheels), for PEP 658: in the row, or a blob
    yanked_reason: str | None
    yanked: bool
    uploaded_by: str
    created_at: float

    @property
    def sha256(self) -> str:
        return self.digest.split(":", 1)[1]


@dataclass(frozen=True, slots=True)
class PypiVersion:
    version: str
    # The core metadata fields as stored (JSON). Decoded only for the version a page or document shows
    # (``metadata()``, off the event loop when large): a project may have thousands of versions.
    metadata_json: str
    description: str | None
    description_content_type: str | None
    requires_python: str | None
    created_at: float

    def metadata(self) -> dict:
        return json.loads(self.metadata_json)

    async def metadata_off_loop(self) -> dict:
        return await off_loop(len(self.metadata_json), self.metadata)


def _file(row: dict) -> PypiFile:
    return PypiFile(row["filename"], row["version"], row["packagetype"], row["python_version"],
                    row["requires_python"], row["digest"], int(row["size"]), row["md5"], row["blake2_256"],
                    row["metadata_digest"], row["yanked_reason"], row["yanked_at"] is not None,
                    row["uploaded_by"], float(row["created_at"]))


class PypiStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def file_exists(self, package_id: int, filename: str) -> bool:
        return await self.db.fetchone("SELECT 1 AS x FROM pypi_files WHERE package_id = ? AND filename = ?",
                                      (package_id, filename)) is not None

    @staticmethod
    async def record(tx: Transaction, package_id: int, dist: Distribution, digest: str, size: int, md5: str,
                     blake2_256: str, uploaded_by: str) -> None:
        """Record an uploaded file (and its version, if it is the version's first file) in the transaction
        that links its blob; a wheel's core metadata file is kept in its row. Raises FileExists if a file
        of that name is there (two concurrent uploads of one file: one wins)."""
        now = time.time()
        version = dist.version
        metadata = {key: value for key, value in dist.metadata.items() if key != "description"}
        # The version's first file brings its row; the file's own insert refuses a name taken (its key).
        await tx.execute(
            "INSERT INTO pypi_versions (package_id, version, metadata, description, description_content_type, "
            "requires_python, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (package_id, version) DO NOTHING",
            (package_id, version, json.dumps(metadata), dist.metadata.get("description"),
             dist.metadata.get("description_content_type"), dist.requires_python, now),
        )
        wheel = dist.name.packagetype == WHEEL
        try:
            await tx.execute(
                f"INSERT INTO pypi_files (package_id, {_FILE_COLUMNS}, metadata_file) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
                (package_id, dist.name.filename, version, dist.name.packagetype, dist.name.python_version,
                 dist.requires_python, digest, size, md5, blake2_256, dist.metadata_digest if wheel else None,
                 uploaded_by, now, dist.metadata_bytes if wheel else None),
            )
        except IntegrityError:
            raise FileExists(dist.name.filename) from None
        await _touch(tx, package_id, now)

    async def files(self, package_id: int, version: str | None = None) -> list[PypiFile]:
        """The project's files (of one version), oldest first."""
        sql = f"SELECT {_FILE_COLUMNS} FROM pypi_files WHERE package_id = ?"
        params: tuple = (package_id,)
        if version is not None:
            sql += " AND version = ?"
            params += (version,)
        return [_file(row) for row in await self.db.fetchall(sql + " ORDER BY created_at, filename", params)]

    async def file(self, package_id: int, filename: str) -> PypiFile | None:
        row = await self.db.fetchone(f"SELECT {_FILE_COLUMNS} FROM pypi_files WHERE package_id = ? AND filename = ?",
                                     (package_id, filename))
        return _file(row) if row else None

    async def metadata_file(self, package_id: int, filename: str) -> tuple[str, bytes | None] | None:
        """A wheel's core metadata file: its digest and bytes, or its digest alone when it is a blob (files
        uploaded before it was kept in the row); None if the file has none (an sdist) or is not there."""
        row = await self.db.fetchone("SELECT metadata_digest, metadata_file FROM pypi_files "
                                     "WHERE package_id = ? AND filename = ?", (package_id, filename))
        if row is None or row["metadata_digest"] is None:
            return None
        return row["metadata_digest"], None if row["metadata_file"] is None else bytes(row["metadata_file"])

    async def versions(self, package_id: int) -> list[PypiVersion]:
        """Every version that has a file, oldest first."""
        rows = await self.db.fetchall(
            "SELECT v.version, v.metadata, v.description, v.description_content_type, v.requires_python, "
            "v.created_at FROM pypi_versions v WHERE v.package_id = ? AND EXISTS (SELECT 1 FROM pypi_files f "
            "WHERE f.package_id = v.package_id AND f.version = v.version) ORDER BY v.created_at, v.version",
            (package_id,),
        )
        return [PypiVersion(row["version"], row["metadata"], row["description"],
                            row["description_content_type"], row["requires_python"], float(row["created_at"]))
                for row in rows]

    async def version_counts(self, package_ids: list[int]) -> dict[int, int]:
        """How many versions each package has (for the web UI's lists)."""
        if not package_ids:
            return {}
        marks = ", ".join("?" * len(package_ids))
        rows = await self.db.fetchall(
            f"SELECT package_id, COUNT(DISTINCT version) AS n FROM pypi_files WHERE package_id IN ({marks}) "
            "GROUP BY package_id", tuple(package_ids))
        return {int(row["package_id"]): int(row["n"]) for row in rows}

    async def yank(self, package_id: int, version: str, filename: str | None, reason: str | None) -> int:
        """Yank (PEP 592) a version's files, or one of them; returns how many files changed."""
        return await self._update(package_id, version, filename, "yanked_at = ?, yanked_reason = ?",
                                  (time.time(), reason or ""))

    async def unyank(self, package_id: int, version: str, filename: str | None) -> int:
        return await self._update(package_id, version, filename, "yanked_at = NULL, yanked_reason = NULL", ())

    async def delete(self, package_id: int, version: str, filename: str | None) -> int:
        """Delete a version's files (or one of them); the version goes with its last file. Their blobs are
        collected by gc once nothing references them."""
        async with self.db.transaction() as tx:
            sql, params = "DELETE FROM pypi_files WHERE package_id = ? AND version = ?", [package_id, version]
            if filename is not None:
                sql += " AND filename = ?"
                params.append(filename)
            changed = await tx.execute(sql, tuple(params))
            await tx.execute(
                "DELETE FROM pypi_versions WHERE package_id = ? AND version = ? AND NOT EXISTS (SELECT 1 FROM "
                "pypi_files f WHERE f.package_id = ? AND f.version = ?)", (package_id, version, package_id, version))
            if changed:
                await _touch(tx, package_id, time.time())
        return changed

    async def _update(self, package_id: int, version: str, filename: str | None, assignments: str,
                      values: tuple) -> int:
        async with self.db.transaction() as tx:
            sql, params = (f"UPDATE pypi_files SET {assignments} WHERE package_id = ? AND version = ?",
                           [*values, package_id, version])
            if filename is not None:
                sql += " AND filename = ?"
                params.append(filename)
            changed = await tx.execute(sql, tuple(params))
            if changed:
                await _touch(tx, package_id, time.time())
        return changed


async def _touch(tx: Transaction, package_id: int, now: float) -> None:
    # Strictly later than before, even within one clock tick: rendered pages are keyed by it.
    await tx.execute(
        "UPDATE packages SET updated_at = CASE WHEN updated_at >= ? THEN updated_at + 0.000001 ELSE ? END "
        "WHERE id = ?", (now, now, package_id))
