"""The one place that picks storage backends, by the settings' URLs.

- database: a file path (SQLite, the default: ``DATA/metadata.db``) or ``postgresql://...``
- blobs: a directory (local disk, the default: ``DATA``) or ``s3://bucket[/prefix]``
  (endpoint from ``--s3-endpoint`` / ``PACKAGES_REGISTRY_S3_ENDPOINT``, credentials from the
  usual AWS variables)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from registry.settings import Settings
from registry.storage.blobs import BlobStore
from registry.storage.database import Database


async def open_database(settings: Settings) -> Database:
    url = settings.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        from registry.storage.postgres import PostgresDatabase

        return await PostgresDatabase.connect(url, settings.db_pool_size, settings.backend_timeout)
    from registry.storage.sqlite import SqliteDatabase

    path = Path(url) if url else settings.data_dir / "metadata.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteDatabase(path)


def open_blob_store(settings: Settings) -> BlobStore:
    url = settings.blob_url
    if url and url.startswith("s3://"):
        from registry.storage.s3 import S3BlobStore

        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError("an S3 blob store is s3://BUCKET[/PREFIX]")
        return S3BlobStore.create(parts.netloc, settings.s3_endpoint, settings.s3_region, parts.path,
                                  timeout=settings.backend_timeout)
    from registry.storage.local import LocalBlobStore

    return LocalBlobStore(Path(url) if url else settings.data_dir, reserve_bytes=settings.reserve_bytes)


def describe(settings: Settings) -> str:
    """Where metadata and blobs live, without credentials (for the start-up line)."""
    database = settings.database_url or str(settings.data_dir / "metadata.db")
    if "://" in database:
        parts = urlsplit(database)
        database = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
    return f"metadata: {database}, blobs: {settings.blob_url or settings.data_dir}"
