"""Blobs as files on local disk: the embedded default.

Layout under the root: ``blobs/<alg>/<2 hex>/<hex>`` for committed content,
``uploads/<id>`` for sessions in progress. A blob appears only by an atomic
rename of a complete, fsync'ed upload, so a crash never leaves a partial
blob visible; an interrupted session's file stays and can be resumed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from registry.storage.blobs import BlobInfo, BlobNotFound

READ_CHUNK = 1024 * 1024


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._uploads = root / "uploads"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._uploads.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, digest: str) -> Path:
        algorithm, _, encoded = digest.partition(":")
        # Digests are validated before they reach a store; this guards the file system regardless.
        if not algorithm.isalnum() or not encoded.isalnum():
            raise BlobNotFound(digest)
        return self._blobs / algorithm / encoded[:2] / encoded

    def _upload_path(self, upload_id: str) -> Path:
        if not upload_id.replace("-", "").isalnum():
            raise BlobNotFound(upload_id)
        return self._uploads / upload_id

    async def stat(self, digest: str) -> BlobInfo:
        path = self._blob_path(digest)
        try:
            return BlobInfo(size=path.stat().st_size, local_path=path)
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    async def read(self, digest: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in _read_file(self._blob_path(digest), offset, length, digest):
            yield chunk

    async def delete(self, digest: str) -> None:
        try:
            self._blob_path(digest).unlink()
        except FileNotFoundError:
            pass

    async def list_digests(self) -> AsyncIterator[str]:
        for algorithm_dir in sorted(self._blobs.iterdir()):
            for prefix_dir in sorted(algorithm_dir.iterdir()):
                for path in sorted(prefix_dir.iterdir()):
                    yield f"{algorithm_dir.name}:{path.name}"

    async def start_upload(self, upload_id: str) -> None:
        self._upload_path(upload_id).touch(exist_ok=False)

    async def upload_size(self, upload_id: str) -> int:
        try:
            return self._upload_path(upload_id).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(upload_id) from None

    async def append(self, upload_id: str, chunks: AsyncIterator[bytes]) -> int:
        path = self._upload_path(upload_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            raise BlobNotFound(upload_id) from None
        try:
            async for chunk in chunks:
                # Page-cache writes are fast enough to do inline; durability comes at commit.
                os.write(fd, chunk)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        async for chunk in _read_file(self._upload_path(upload_id), 0, None, upload_id):
            yield chunk

    async def truncate_upload(self, upload_id: str, size: int) -> None:
        os.truncate(self._upload_path(upload_id), size)

    async def seal(self, upload_id: str) -> int:
        return await asyncio.to_thread(_fsync, self._upload_path(upload_id))

    async def commit(self, upload_id: str, digest: str) -> BlobInfo:
        source = self._upload_path(upload_id)
        target = self._blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = source.stat().st_size
            os.replace(source, target)
        except FileNotFoundError:
            raise BlobNotFound(upload_id) from None  # the session was dropped (gc) meanwhile
        await asyncio.to_thread(_fsync_directory, target.parent)  # the rename itself must survive a crash
        return BlobInfo(size=size, local_path=target)

    async def cancel(self, upload_id: str) -> None:
        try:
            self._upload_path(upload_id).unlink()
        except (FileNotFoundError, BlobNotFound):
            pass

    async def list_uploads(self) -> AsyncIterator[str]:
        for path in sorted(self._uploads.iterdir()):
            yield path.name


def _fsync(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise BlobNotFound(path.name) from None
    try:
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _read_file(path: Path, offset: int, length: int | None, key: str) -> AsyncIterator[bytes]:
    try:
        handle = open(path, "rb")  # noqa: SIM115, ASYNC230 - closed below, across yields; page-cache reads are inline
    except FileNotFoundError:
        raise BlobNotFound(key) from None
    with handle:
        handle.seek(offset)
        remaining = length
        while remaining is None or remaining > 0:
            size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
            chunk = handle.read(size)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk
