"""Content: verified blobs and resumable uploads, shared by every package type.

The blob store keeps bytes; this service hashes them while they arrive,
checks the digest a client claims, and records blobs and their links to
packages in the metadata database. A blob is visible to a package only once
it is complete, verified, durable and linked.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar

from registry.offload import off_loop
from registry.quota import Quota, QuotaExceeded
from registry.storage.blobs import BlobInfo, BlobNotFound, BlobStore
from registry.storage.database import Database, Transaction
from registry.storage.faults import StorageFull
from vocab.digests import Digest

T = TypeVar("T")

# Uploads hash with sha256 as bytes arrive; a sha512 digest is checked by rehashing at the end.
STREAM_ALGORITHM = "sha256"
# Bytes in hand are hashed on the event loop up to this many bytes times the number of digests: under half
# a millisecond (SHA-2, MD5 and BLAKE2 at 0.5-2 GB/s; hashlib lets the write's thread run meanwhile), and less
# than the thread hop it saves and its contention with that write (a wheel of a few dozen KiB with its three
# digests, a Maven pom).
HASH_INLINE_BYTES = 256 * 1024
# An upload receiving bytes holds a lease in the database that garbage collection respects (it may
# run in another process or replica, with any grace period), renewed while the bytes arrive. A
# crashed server's lease simply runs out.
LEASE_SECONDS = 30.0
LEASE_RENEWAL = LEASE_SECONDS / 3


class UploadNotFound(Exception):
    pass


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """How many resumable upload sessions may be open, and how long one may sit unused.

    A session idle longer than ``idle_seconds`` is expired: it no longer counts, and using it answers
    "upload unknown" (garbage collection deletes its bytes). A session in use (a chunk streaming) is
    never idle: the clock restarts when each chunk ends.
    """

    per_credential: int = 100
    per_package: int = 200
    idle_seconds: float = 3600.0


class TooManyUploads(Exception):
    """The caller (or the package) has as many open upload sessions as allowed."""

    def __init__(self, what: str, limit: int, retry_after: float) -> None:
        super().__init__(f"too many open upload sessions {what} (at most {limit}): finish or cancel some, "
                         "or wait for idle ones to expire")
        self.retry_after = max(1, int(retry_after + 0.999))


class DigestMismatch(Exception):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"content digest {actual} does not match the digest given, {expected}")
        self.expected = expected
        self.actual = actual


class RangeMismatch(Exception):
    """A chunk does not start where the upload ends."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the upload has {size} bytes; a chunk must start at {size}")
        self.size = size


@dataclass(frozen=True, slots=True)
class StagedBlob:
    """Bytes written by ``ContentService.stage``: not yet visible, recorded or linked."""

    upload_id: str
    size: int
    hexdigests: dict[str, str]  # algorithm -> hex digest of the bytes
    sealed: bool = False  # already durable (``stage(seal=True)``): the commit need not sync them again
    # The write (and sync) of bytes in hand still under way (``stage(..., early=True)``): the commit, or the
    # discard, waits for it.
    writing: asyncio.Future | None = None

    @property
    def digest(self) -> str:
        return f"{STREAM_ALGORITHM}:{self.hexdigests[STREAM_ALGORITHM]}"


class StagedReader(io.RawIOBase):
    """A blob store's async stream, read by a worker thread: each read asks the loop for the next chunk."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks = chunks
        self._loop = loop
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._buffer:
            chunk = asyncio.run_coroutine_threadsafe(anext(self._chunks, b""), self._loop).result()
            self._buffer = memoryview(chunk)
        size = min(len(buffer), len(self._buffer))
        buffer[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(slots=True)
class _HashState:
    size: int
    hasher: hashlib._Hash


@dataclass(slots=True)
class _SessionLocks:
    """One lock per upload session, held while a request reads or changes it.

    A client whose connection dropped mid-chunk asks where to resume at once; its old request may
    still be writing what arrived before the cut. Waiting for that request makes the answer final.
    """

    locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @asynccontextmanager
    async def hold(self, upload_id: str) -> AsyncIterator[None]:
        lock, users = self.locks.get(upload_id, (asyncio.Lock(), 0))
        self.locks[upload_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self.locks[upload_id]
            if users == 1:
                del self.locks[upload_id]
            else:
                self.locks[upload_id] = (lock, users - 1)


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _settled(future: asyncio.Future) -> None:
    """Wait for a step to end, whatever its outcome (which is then seen: another failure is the one raised)."""
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()


async def _together(steps: Iterable[Awaitable[T]]) -> list[T]:
    """Run the steps side by side (syncs of different files: the waits overlap); all of them finish
    before the first failure, if any, is raised, so none is left running behind its caller."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


# Digests a caller may ask ``stage`` for besides the store's own, by name (others: ``hashlib.new``'s names).
_HASHERS: dict[str, Callable[[], hashlib._Hash]] = {
    "md5": lambda: hashlib.md5(usedforsecurity=False),  # a checksum clients send (PyPI), not for security
    "blake2b_256": lambda: hashlib.blake2b(digest_size=32),  # PyPI's blake2b_256
}


def _hasher(name: str) -> hashlib._Hash:
    make = _HASHERS.get(name)
    return make() if make is not None else hashlib.new(name)


def blob_lock(digest: str) -> str:
    """The lock key that serialises a blob's commit, its links and its garbage collection."""
    return f"blob:{digest}"


class ContentService:
    def __init__(self, db: Database, blobs: BlobStore, limits: UploadLimits | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.limits = limits or UploadLimits()
        # Hash state of uploads in progress, by upload id. Lost on restart or when another
        # process takes the next chunk; it is then rebuilt from the bytes already stored.
        self._hash_states: dict[str, _HashState] = {}
        self._sessions = _SessionLocks()
        # A workspace's storage limit, checked as an upload starts, grows and commits (QuotaExceeded).
        self.quota = Quota(db)

    # --- upload sessions ---

    async def start_upload(self, package_id: int, credential_id: str | None = None) -> str:
        """A new resumable session. With ``credential_id`` (a client's session, not one request's own),
        refused with TooManyUploads past the caps of UploadLimits."""
        if credential_id is not None:
            await self._check_caps(package_id, credential_id)
        await self.quota.budget(package_id)
        upload_id = str(uuid.uuid4())
        now = time.time()
        # The row first: a file the database does not know is one that garbage collection may take.
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO uploads (id, package_id, created_at, updated_at, credential_id) VALUES (?, ?, ?, ?, ?)",
                (upload_id, package_id, now, now, credential_id),
            )
        try:
            await self.blobs.start_upload(upload_id)
        except BaseException:
            async with self.db.transaction() as tx:
                await tx.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            raise
        self._hash_states[upload_id] = _HashState(0, hashlib.new(STREAM_ALGORITHM))
        return upload_id

    async def _check_caps(self, package_id: int, credential_id: str) -> None:
        limits = self.limits
        live_since = time.time() - limits.idle_seconds
        for what, column, value, limit in (("for this credential", "credential_id", credential_id,
                                            limits.per_credential),
                                           ("for this package", "package_id", package_id, limits.per_package)):
            row = await self.db.fetchone(
                f"SELECT COUNT(*) AS n, MIN(updated_at) AS oldest FROM uploads WHERE {column} = ? AND updated_at > ?",
                (value, live_since))
            if row is not None and row["n"] >= limit:
                raise TooManyUploads(what, limit, row["oldest"] - live_since)

    async def upload_size(self, upload_id: str, package_id: int) -> int:
        async with self._sessions.hold(upload_id):
            return await self._size(upload_id, package_id)

    async def _size(self, upload_id: str, package_id: int) -> int:
        row = await self.db.fetchone("SELECT package_id, updated_at FROM uploads WHERE id = ?", (upload_id,))
        if row is None or row["package_id"] != package_id \
                or row["updated_at"] < time.time() - self.limits.idle_seconds:  # expired
            raise UploadNotFound(upload_id)
        try:
            return await self.blobs.upload_size(upload_id)
        except BlobNotFound:
            raise UploadNotFound(upload_id) from None

    async def append(self, upload_id: str, package_id: int, chunks: AsyncIterator[bytes],
                     start: int | None = None, length: int | None = None, *, finishing: bool = False) -> int:
        """Append a stream; ``start`` (from Content-Range) must equal the current size, and a chunk
        that does not bring the ``length`` it announced is dropped whole (RangeMismatch). With
        ``finishing`` (``finish`` follows at once and removes the session) the lease is left to it."""
        async with self._sessions.hold(upload_id):
            try:
                return await self._append(upload_id, package_id, chunks, start, length, finishing)
            except BlobNotFound:
                raise UploadNotFound(upload_id) from None  # dropped by garbage collection meanwhile
            except QuotaExceeded:
                await self._drop(upload_id)  # a refused push leaves nothing behind
                raise

    async def _append(self, upload_id: str, package_id: int, chunks: AsyncIterator[bytes],
                      start: int | None, length: int | None, finishing: bool) -> int:
        size = await self._size(upload_id, package_id)
        if start is not None and start != size:
            raise RangeMismatch(size)
        state = await self._hash_state(upload_id, size)
        await self._hold_lease(upload_id, time.time() + LEASE_SECONDS)
        renew_at = time.monotonic() + LEASE_RENEWAL
        budget = await self.quota.budget(package_id)

        async def hashed() -> AsyncIterator[bytes]:
            nonlocal renew_at
            async for chunk in chunks:
                if budget is not None:
                    await budget.check(state.size + len(chunk))
                yield chunk
                # Counted only once the store has taken the chunk, so state matches the stored bytes.
                state.hasher.update(chunk)
                state.size += len(chunk)
                if time.monotonic() >= renew_at:
                    await self._hold_lease(upload_id, time.time() + LEASE_SECONDS)
                    renew_at = time.monotonic() + LEASE_RENEWAL

        try:
            new_size = await self.blobs.append(upload_id, hashed())
        except StorageFull:
            # Nothing this session holds may keep a full disk full: the client starts again later.
            await self._drop(upload_id)
            raise
        except BaseException:
            await self._release_lease_quietly(upload_id)
            raise
        if not finishing:
            # Released with a check: a session dropped meanwhile must not answer as if its bytes were kept
            # (when finishing, the commit's own check of the session does that).
            await self._hold_lease(upload_id, 0)
        if length is not None and new_size - size != length:
            await self.blobs.truncate_upload(upload_id, size)
            self._hash_states.pop(upload_id, None)
            raise RangeMismatch(size)
        return new_size

    async def _hold_lease(self, upload_id: str, until: float) -> None:
        """Take, renew (``until`` in the future) or release (0) the session's lease; UploadNotFound if
        the session is gone."""
        async with self.db.transaction() as tx:
            touched = await tx.execute("UPDATE uploads SET updated_at = ?, lease_until = ? WHERE id = ?",
                                       (time.time(), until, upload_id))
        if not touched:
            self._hash_states.pop(upload_id, None)
            raise UploadNotFound(upload_id)

    async def _release_lease_quietly(self, upload_id: str) -> None:
        # On the way out of a failed append: the failure is what the client must hear, not this.
        with suppress(Exception):  # the lease runs out by itself anyway
            await self._hold_lease(upload_id, 0)

    async def finish(self, upload_id: str, package_id: int, digest: Digest) -> BlobInfo:
        """Verify the upload against ``digest``, make it durable and link it to the package."""
        async with self._sessions.hold(upload_id):
            try:
                return await self._finish(upload_id, package_id, digest)
            except BlobNotFound:
                raise UploadNotFound(upload_id) from None  # dropped by garbage collection meanwhile
            except QuotaExceeded:
                await self._drop(upload_id)
                raise

    async def _finish(self, upload_id: str, package_id: int, digest: Digest) -> BlobInfo:
        size = await self._size(upload_id, package_id)
        if digest.algorithm == STREAM_ALGORITHM:
            actual = f"{STREAM_ALGORITHM}:{(await self._hash_state(upload_id, size)).hasher.hexdigest()}"
        else:
            hasher = digest.hasher()
            async for chunk in self.blobs.read_upload(upload_id):
                hasher.update(chunk)
            actual = f"{digest.algorithm}:{hasher.hexdigest()}"
        if actual != str(digest):
            await self._drop(upload_id)
            raise DigestMismatch(str(digest), actual)
        await self.blobs.seal(upload_id)
        now = time.time()
        async with self.db.transaction() as tx:
            # Under the blob's lock: garbage collection deletes blobs under it too, so a blob
            # can never be deleted between becoming visible and being recorded.
            await tx.lock(blob_lock(str(digest)))
            await self.quota.admit_blob(tx, package_id, str(digest), size)
            info = await self.blobs.commit(upload_id, str(digest))
            await self._record_blobs(tx, {str(digest): info.size}, now)
            await self._link(tx, package_id, [str(digest)], now)
            await tx.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
        self._hash_states.pop(upload_id, None)
        return info

    async def cancel(self, upload_id: str) -> None:
        async with self._sessions.hold(upload_id):
            await self._drop(upload_id)

    async def _drop(self, upload_id: str) -> None:
        self._hash_states.pop(upload_id, None)
        # The bytes first: on a full disk the row's delete may fail, and the space must come back
        # regardless (a row without its file is a session that answers "unknown", and gc drops it).
        await self.blobs.cancel(upload_id)
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

    async def store(self, package_id: int, chunks: AsyncIterator[bytes], digest: Digest | None = None
                    ) -> tuple[str, BlobInfo]:
        """One-shot upload: stream, verify against ``digest`` if given, link. Returns (digest, info)."""
        upload_id = await self.start_upload(package_id)
        try:
            await self.append(upload_id, package_id, chunks, finishing=True)
            if digest is None:
                state = self._hash_states[upload_id]
                digest = Digest(STREAM_ALGORITHM, state.hasher.hexdigest())
            return str(digest), await self.finish(upload_id, package_id, digest)
        except BaseException:
            await self.cancel(upload_id)
            raise

    async def store_small(self, package_id: int, data: bytes,
                          then: Callable[[Transaction, str], Awaitable[None]] | None = None
                          ) -> tuple[str, BlobInfo]:
        """A blob held in memory (a small Maven file): stored by its sha256 and linked in one metadata
        transaction, together with the caller's own rows (``then(tx, digest)``), or not at all."""
        staged = await self.stage(_one_chunk(data))
        try:
            info = await self.commit_staged(staged, package_id, then)
        except BaseException:
            await self.discard(staged)
            raise
        return staged.digest, info

    async def stage(self, chunks: AsyncIterator[bytes] | bytes, algorithms: tuple[str, ...] = (), *,
                    seal: bool = False, early: bool = False) -> StagedBlob:
        """Write a stream (or bytes) to the store's upload area, hashed (sha256 and ``algorithms``) as it
        arrives, off the event loop for big chunks; with ``seal``, made durable at once (so that the sync
        overlaps whatever the caller does meanwhile). Nothing is visible or recorded until ``commit_staged``.
        With ``early`` (bytes in hand), return as soon as their digests are known: the write and sync go
        on beside the caller's next steps (the commit's statements), and the commit waits for them.

        Three syncs at commit (the file, its directory, the commit) where a resumable upload session
        takes six: there is no session row, since one request brings all the bytes. A crash before
        the commit leaves at most an unrecorded file, which garbage collection deletes. On error the
        bytes are discarded.
        """
        names = (STREAM_ALGORITHM, *(a for a in algorithms if a != STREAM_ALGORITHM))
        hashers = [_hasher(name) for name in names]
        size = 0

        def update(chunk: bytes) -> None:
            for hasher in hashers:
                hasher.update(chunk)

        async def hashed(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in stream:
                await off_loop(len(chunk), update, chunk)
                size += len(chunk)
                yield chunk

        upload_id = str(uuid.uuid4())
        writing: asyncio.Future | None = None
        try:
            if isinstance(chunks, bytes):
                # Bytes in hand: written (and synced) in one step, hashed meanwhile; a small file's hashes
                # take less time on the loop than a thread hop would. The write's task first: its thread
                # starts first, and its sync is the longer wait.
                size = len(chunks)
                writing = asyncio.ensure_future(self.blobs.write_upload(upload_id, chunks, seal=seal))
                if size * len(hashers) <= HASH_INLINE_BYTES:
                    await asyncio.sleep(0)  # the write's thread is handed its work before the hashing holds the loop
                    update(chunks)
                else:
                    await asyncio.to_thread(update, chunks)
                if not early:
                    await writing
                    writing = None
            else:
                await self.blobs.start_upload(upload_id)
                await self.blobs.append(upload_id, hashed(chunks))
                if seal:
                    await self.blobs.seal(upload_id)
        except BaseException:
            if writing is not None:
                await _settled(writing)
            await self.blobs.cancel(upload_id)
            raise
        return StagedBlob(upload_id, size, {name: hasher.hexdigest() for name, hasher in zip(names, hashers,
                                                                                              strict=True)}, seal, writing)

    def open_staged(self, staged: StagedBlob) -> StagedReader:
        """The staged bytes as a blocking file for a worker thread (to check them before they are
        committed, off the event loop); call on the loop, read in the thread, then ``aclose`` it."""
        return StagedReader(self.blobs.read_upload(staged.upload_id), asyncio.get_running_loop())

    async def discard(self, staged: StagedBlob) -> None:
        if staged.writing is not None:
            await _settled(staged.writing)
        await self.blobs.cancel(staged.upload_id)

    async def commit_staged(self, staged: StagedBlob, package_id: int,
                            then: Callable[[Transaction, str], Awaitable[None]] | None = None) -> BlobInfo:
        """Make staged bytes durable, visible under their sha256 and linked to the package, in one metadata
        transaction with the caller's own rows (``then(tx, digest)``), or not at all (then discard them)."""

        async def then_one(tx: Transaction, digests: list[str]) -> None:
            if then is not None:
                await then(tx, digests[0])

        return (await self.commit_staged_together([staged], package_id, then_one))[0]

    async def commit_staged_together(self, staged: Sequence[StagedBlob], package_id: int,
                                     then: Callable[[Transaction, list[str]], Awaitable[None]] | None = None
                                     ) -> list[BlobInfo]:
        """``commit_staged`` for several blobs at once: their bytes made durable side by side, and all of
        them visible and linked in one metadata transaction (one commit to sync), or none of them.
        ``then`` gets their digests in order."""
        digests = [each.digest for each in staged]
        unsealed = [each for each in staged if not each.sealed]
        for each in unsealed:  # a refusal before the slow part (for sealed ones, the commit's own check is enough)
            await self.quota.precheck_blob(package_id, each.digest, each.size)
        await _together(self.blobs.seal(each.upload_id) for each in unsealed)
        async with self.db.transaction() as tx:
            for digest in sorted(set(digests)):  # one order for every writer: no deadlock between two
                await tx.lock(blob_lock(digest))
            # The same bytes twice cost their room once.
            await self.quota.admit_blobs(tx, package_id, [(each.digest, each.size) for each in staged])
            # The renames (and the syncs of their directories) are done before the commit, which waits for
            # them: in its own thread (SQLite), or beside the rows' statements (PostgreSQL). The rows are seen
            # by no one before the commit. Bytes staged early are renamed only once their write and sync,
            # under way beside the statements, are done.
            infos: list[BlobInfo] = []
            uploads = [(each.upload_id, each.digest) for each in staged]
            writing = [each.writing for each in staged if each.writing is not None]
            if not writing:
                tx.before_commit(lambda: infos.extend(self.blobs.commit_now(uploads)))
            now = time.time()
            sizes = {each.digest: each.size for each in staged}
            await self._record_blobs(tx, sizes, now)
            await self._link(tx, package_id, sizes, now)
            if then is not None:
                await then(tx, digests)
            if writing:
                await _together(writing)
                tx.before_commit(lambda: infos.extend(self.blobs.commit_now(uploads)))
        return infos

    async def _hash_state(self, upload_id: str, size: int) -> _HashState:
        state = self._hash_states.get(upload_id)
        if state is None or state.size != size:
            state = _HashState(0, hashlib.new(STREAM_ALGORITHM))
            async for chunk in self.blobs.read_upload(upload_id):
                state.hasher.update(chunk)
                state.size += len(chunk)
            self._hash_states[upload_id] = state
        return state

    @asynccontextmanager
    async def holding_blob(self, digest: str) -> AsyncIterator[None]:
        """Hold ``digest``'s lock (against garbage collection) for a write of the blob store outside an
        upload, such as the start-up probe."""
        async with self.db.transaction() as tx:
            await tx.lock(blob_lock(digest))
            yield

    # --- blobs and their links ---

    async def linked_blob(self, package_id: int, digest: str) -> int | None:
        """The size of a blob linked to the package, or None."""
        row = await self.db.fetchone(
            "SELECT b.size FROM package_blobs l JOIN blobs b ON b.digest = l.digest "
            "WHERE l.package_id = ? AND l.digest = ?",
            (package_id, digest),
        )
        return int(row["size"]) if row else None

    async def stored_sizes(self, package_ids: list[int]) -> dict[int, int]:
        """Bytes of content linked to each package (what the web UI lists as a package's size)."""
        if not package_ids:
            return {}
        marks = ", ".join("?" * len(package_ids))
        rows = await self.db.fetchall(
            "SELECT l.package_id, SUM(b.size) AS size FROM package_blobs l JOIN blobs b ON b.digest = l.digest "
            f"WHERE l.package_id IN ({marks}) GROUP BY l.package_id",
            tuple(package_ids),
        )
        return {int(row["package_id"]): int(row["size"] or 0) for row in rows}

    async def link(self, package_id: int, digest: str) -> bool:
        """Link an existing blob to a package (cross-repository mount). False if there is no such blob."""
        async with self.db.transaction() as tx:
            await tx.lock(blob_lock(digest))
            row = await tx.fetchone("SELECT size FROM blobs WHERE digest = ?", (digest,))
            if row is None:
                return False
            try:
                # A collector whose commit failed (a full disk) may have left the row of a deleted file.
                await self.blobs.stat(digest)
            except BlobNotFound:
                return False
            await self.quota.admit_blob(tx, package_id, digest, int(row["size"]))
            await self._link(tx, package_id, [digest], time.time())
        return True

    async def unlink(self, package_id: int, digest: str) -> bool:
        async with self.db.transaction() as tx:
            return await tx.execute(
                "DELETE FROM package_blobs WHERE package_id = ? AND digest = ?", (package_id, digest)
            ) > 0

    # One statement for all the rows of a transaction's blobs, one for their links. Each digest once: a
    # statement may not update a row twice.

    @staticmethod
    async def _record_blobs(tx, sizes: dict[str, int], now: float) -> None:
        rows = ", ".join("(?, ?, ?)" for _ in sizes)
        await tx.execute(
            f"INSERT INTO blobs (digest, size, created_at) VALUES {rows} "
            "ON CONFLICT (digest) DO UPDATE SET created_at = excluded.created_at",
            tuple(value for digest, size in sizes.items() for value in (digest, size, now)),
        )

    @staticmethod
    async def _link(tx, package_id: int, digests: Iterable[str], now: float) -> None:
        unique = dict.fromkeys(digests)
        rows = ", ".join("(?, ?, ?)" for _ in unique)
        await tx.execute(
            f"INSERT INTO package_blobs (package_id, digest, linked_at) VALUES {rows} "
            "ON CONFLICT (package_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
            tuple(value for digest in unique for value in (package_id, digest, now)),
        )
