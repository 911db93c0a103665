"""Blobs as files on local disk: the embedded default.

Layout under the root: ``blobs/<alg>/<2 hex>/<hex>`` for committed content,
``uploads/<id>`` for sessions in progress. A blob appears only by an atomic
rename of a complete, fsync'ed upload, so a crash never leaves a partial
blob visible; an interrupted session's file stays and can be resumed.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from registry.storage.blobs import BlobInfo, BlobNotFound
from registry.storage.faults import StorageFull

READ_CHUNK = 1024 * 1024
# Free space is re-read after at most this many bytes written by one append (other writers share it).
SPACE_CHECK_BYTES = 8 * 1024 * 1024
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def _space() -> Iterator[None]:
    """A full disk (or quota) is StorageFull: a clean answer for the client, not a server error."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise StorageFull("blob store", "no space left on the data disk") from None
        raise


class LocalBlobStore:
    def __init__(self, root: Path, reserve_bytes: int = 0) -> None:
        self.root = root
        # Blob writes stop this far from a full disk: what is left is for the metadata database
        # (which may share the disk) and for the collector to record what it frees.
        self.reserve_bytes = reserve_bytes
        self._blobs = root / "blobs"
        self._uploads = root / "uploads"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._uploads.mkdir(parents=True, exist_ok=True)
        _make_prefixes(self._blobs / "sha256")

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

    def _room(self, fd: int) -> int:
        """Bytes an append may write before looking again (StorageFull when none)."""
        stats = os.fstatvfs(fd)
        room = stats.f_bavail * stats.f_frsize - self.reserve_bytes
        if room <= 0:
            raise StorageFull("blob store", "the data disk is full (down to its reserve)")
        return room

    async def start_upload(self, upload_id: str) -> None:
        with _space():
            fd = os.open(self._upload_path(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            self._room(fd)
        except StorageFull:
            os.unlink(self._upload_path(upload_id))
            raise
        finally:
            os.close(fd)

    async def write_upload(self, upload_id: str, data: bytes, *, seal: bool = False) -> int:
        # One thread hop for all of it: making a file (a new inode) may take a millisecond of the kernel's
        # time on a busy file system, and the sync waits for the disk.
        return await asyncio.to_thread(self._write_whole, self._upload_path(upload_id), data, seal)

    def _write_whole(self, path: Path, data: bytes, seal: bool) -> int:
        with _space():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if len(data) > self._room(fd):
                raise StorageFull("blob store", "the data disk is full (down to its reserve)")
            with _space():
                _write_all(fd, data)
                if seal:
                    os.fsync(fd)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        return len(data)

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
        start = os.fstat(fd).st_size
        try:
            allowance = 0
            async for chunk in chunks:
                if len(chunk) > allowance:
                    allowance = self._room(fd)
                    if len(chunk) > allowance:
                        raise StorageFull("blob store", "the data disk is full (down to its reserve)")
                    allowance = max(min(allowance, SPACE_CHECK_BYTES), len(chunk))
                    _check_linked(fd, upload_id)
                allowance -= len(chunk)
                # Page-cache writes are fast enough to do inline; durability comes at commit.
                with _space():
                    _write_all(fd, chunk)
            _check_linked(fd, upload_id)
            return os.fstat(fd).st_size
        except StorageFull:
            # This write's bytes go (a full disk must not stay full because of a half-written chunk).
            os.ftruncate(fd, start)
            raise
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
        # One thread hop: the rename (it takes the directory's lock, and may make the directory) and the
        # sync that makes it survive a crash.
        return (await asyncio.to_thread(self.commit_now, [(upload_id, digest)]))[0]

    def commit_now(self, uploads: Sequence[tuple[str, str]]) -> list[BlobInfo]:
        # Every rename first, then each directory synced once: the first sync makes all the renames
        # durable (one journal commit), the others find little left to do.
        infos, directories = [], {}
        for upload_id, digest in uploads:
            target = self._blob_path(digest)
            infos.append(BlobInfo(size=self._rename(upload_id, self._upload_path(upload_id), target, directories),
                                  local_path=target))
        _fsync_directories(list(directories))
        return infos

    @staticmethod
    def _rename(upload_id: str, source: Path, target: Path, directories: dict[Path, None]) -> int:
        """Move an upload into place; returns its size and adds the directories to sync to ``directories``."""
        try:
            size = source.stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(upload_id) from None  # the session was dropped (gc) meanwhile
        try:
            os.replace(source, target)
        except FileNotFoundError:
            # The blob's directory is not there yet (another algorithm's first blob of its prefix; sha256's
            # are made at start): made on demand, and its entry in its parent synced too.
            directories.update(dict.fromkeys(path.parent for path in (target.parent.parent, target.parent)
                                             if not path.is_dir()))
            with _space():
                target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(source, target)
            except FileNotFoundError:
                raise BlobNotFound(upload_id) from None
        directories[target.parent] = None
        return size

    async def cancel(self, upload_id: str) -> None:
        try:
            self._upload_path(upload_id).unlink()
        except (FileNotFoundError, BlobNotFound):
            pass

    async def list_uploads(self) -> AsyncIterator[tuple[str, float]]:
        for path in sorted(self._uploads.iterdir()):
            try:
                yield path.name, path.stat().st_mtime  # every append changes it
            except FileNotFoundError:
                continue

    async def abort_incomplete(self, older_than: float) -> int:
        """Nothing to do: a local file has no separate multipart state."""
        return 0


def _make_prefixes(root: Path) -> None:
    """Every two-hex-digit directory of an algorithm's blobs, made once (and synced) at start: a first
    blob of its prefix then costs no directory to make and sync (a new inode) in its push."""
    missing = [root / f"{n:02x}" for n in range(256) if not (root / f"{n:02x}").is_dir()]
    if not missing:
        return
    made_root = not root.is_dir()
    for path in missing:
        path.mkdir(parents=True, exist_ok=True)
    _fsync_directories([root, *([root.parent] if made_root else [])])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _check_linked(fd: int, upload_id: str) -> None:
    """An upload dropped meanwhile (by gc) is not written on: its bytes would go nowhere."""
    if os.fstat(fd).st_nlink == 0:
        raise BlobNotFound(upload_id)


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


def _fsync_directories(paths: list[Path]) -> None:
    for path in paths:
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
