"""The blob store interface: content-addressed bytes and resumable upload sessions.

A blob store knows nothing of digests' meaning, packages or permissions: it
keeps bytes under a key. Verifying content (hashing while receiving) is the
job of :mod:`registry.content`, so every backend gets it for free.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class BlobNotFound(FileNotFoundError):
    """No blob (or upload session) under that key."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int
    local_path: Path | None = None  # set when the bytes are a local file (zero-copy sendfile)


class BlobStore(Protocol):
    # --- committed blobs, keyed by digest string ---
    async def stat(self, digest: str) -> BlobInfo:
        """Size (and local path if any); BlobNotFound if absent."""

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream a blob's bytes (a range of them); BlobNotFound if absent."""

    async def delete(self, digest: str) -> None:
        """Remove a blob; absent is not an error."""

    def list_digests(self) -> AsyncIterator[str]:
        """Every committed blob (for garbage collection)."""

    # --- upload sessions, keyed by upload id ---
    async def start_upload(self, upload_id: str) -> None: ...

    async def write_upload(self, upload_id: str, data: bytes, *, seal: bool = False) -> int:
        """Start a session holding ``data`` (and with ``seal``, make it durable) in one step: for bytes
        already in hand, the cheapest way into the upload area. Returns the size."""

    async def upload_size(self, upload_id: str) -> int:
        """Bytes received so far; BlobNotFound if there is no such session."""

    async def append(self, upload_id: str, chunks: AsyncIterator[bytes]) -> int:
        """Append a stream to the session; return the new size. Partial data stays on error, except
        on StorageFull (the disk is full): then this append's bytes are dropped. BlobNotFound if the
        session is dropped meanwhile."""

    def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        """The session's bytes so far (to rebuild a hash after a restart)."""

    async def seal(self, upload_id: str) -> int:
        """Make the session's bytes durable (the slow part: run outside any lock); return the size."""

    async def commit(self, upload_id: str, digest: str) -> BlobInfo:
        """Make a sealed session visible under ``digest``, atomically. Called inside a metadata
        transaction, so it must be quick; a blob already there with that digest is simply kept."""

    def commit_now(self, uploads: Sequence[tuple[str, str]]) -> list[BlobInfo]:
        """``commit`` for several sealed sessions (upload id, digest), blocking: for the step a metadata
        transaction runs right before its commit (``WriteTransaction.before_commit``), so that one thread
        hop makes the blobs visible and commits the rows that record them."""

    async def truncate_upload(self, upload_id: str, size: int) -> None:
        """Cut a session back to ``size`` bytes (drops a partial chunk a client will resend)."""

    async def cancel(self, upload_id: str) -> None:
        """Drop a session and its bytes; absent is not an error."""

    def list_uploads(self) -> AsyncIterator[tuple[str, float]]:
        """Every upload session in the store, with the time it last changed (for garbage collection:
        a crash can leave sessions that the database never recorded)."""

    async def abort_incomplete(self, older_than: float) -> int:
        """Abort the store's own unfinished writes started before ``older_than`` (S3 multipart uploads
        of a crashed process); return how many."""
