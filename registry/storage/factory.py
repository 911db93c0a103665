"""The one place that picks storage backends by name (from settings)."""

from __future__ import annotations

from registry.settings import Settings
from registry.storage.blobs import BlobStore
from registry.storage.database import Database


def open_database(settings: Settings) -> Database:
    if settings.metadata_backend == "sqlite":
        from registry.storage.sqlite import SqliteDatabase

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteDatabase(settings.data_dir / "metadata.db")
    raise ValueError(f"unknown metadata backend {settings.metadata_backend!r}")


def open_blob_store(settings: Settings) -> BlobStore:
    if settings.blob_backend == "local":
        from registry.storage.local import LocalBlobStore

        return LocalBlobStore(settings.data_dir)
    raise ValueError(f"unknown blob backend {settings.blob_backend!r}")
