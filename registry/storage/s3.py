"""Blobs in an S3-compatible object store (AWS S3, Ceph radosgw, MinIO...).

Several registry replicas can share one bucket. Keys:
``<prefix>blobs/<alg>/<hex>`` for committed content; an upload session is
``<prefix>uploads/<id>/`` holding a ``.session`` marker and the received bytes
as pieces named by their start offset (S3 has no append). Sealing
concatenates the pieces into ``.sealed`` (the slow part, outside any lock);
committing is a server-side copy to the blob's key, so a blob appears whole
or not at all.

boto3 is synchronous: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from registry.storage.blobs import BlobInfo, BlobNotFound
from registry.storage.faults import BackendUnavailable, StorageFull

PIECE_SIZE = 8 * 1024 * 1024  # memory held per upload in flight: at most one piece
READ_CHUNK = 1024 * 1024
MARKER = ".session"
SEALED = ".sealed"


def make_client(endpoint: str | None, region: str, timeout: float = 5.0) -> Any:
    import boto3
    from botocore.config import Config

    # A store that is away answers 503 within a few timeouts, not after minutes of retries; a read
    # may take longer than a connection (a big part on a slow link).
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                    max_pool_connections=32, connect_timeout=timeout, read_timeout=max(timeout, 60))
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)


def _missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchUpload")


def _translated(exc: Exception) -> Exception:
    """boto's errors for a store that is away or full, in registry.storage's words; others as they are."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if error.get("Code") in ("QuotaExceeded", "EntityTooLarge") or status == 507:
            return StorageFull("blob store", str(error.get("Code")))
        if status >= 500 or error.get("Code") in ("SlowDown", "ServiceUnavailable", "RequestTimeout"):
            return BackendUnavailable("blob store", f"{error.get('Code') or status}")
        return exc
    if isinstance(exc, BotoCoreError):  # connection refused or reset, timeouts
        return BackendUnavailable("blob store", str(exc).splitlines()[0])
    return exc


@contextmanager
def _boto_errors() -> Iterator[None]:
    """Raise boto's errors in registry.storage's words (``_translated``)."""
    try:
        yield
    except Exception as exc:
        translated = _translated(exc)
        if translated is exc:
            raise
        raise translated from None


async def _in_thread(call: Any, /, *args: Any, **kwargs: Any) -> Any:
    with _boto_errors():
        return await asyncio.to_thread(call, *args, **kwargs)


class _PiecesReader(io.RawIOBase):
    """The pieces of an upload as one readable stream (to hand to a multipart upload)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            self._buffer = next(self._chunks, b"")
            if not self._buffer:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class S3BlobStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def create(cls, bucket: str, endpoint: str | None = None, region: str = "us-east-1", prefix: str = "",
               timeout: float = 5.0) -> S3BlobStore:
        client = make_client(endpoint, region, timeout)
        try:
            client.head_bucket(Bucket=bucket)
        except Exception as exc:
            if not _missing(exc):
                raise
            client.create_bucket(Bucket=bucket)
        return cls(client, bucket, prefix)

    # --- keys ---

    def _blob_key(self, digest: str) -> str:
        algorithm, _, encoded = digest.partition(":")
        if not algorithm.isalnum() or not encoded.isalnum():
            raise BlobNotFound(digest)
        return f"{self.prefix}blobs/{algorithm}/{encoded}"

    def _upload_prefix(self, upload_id: str) -> str:
        if not upload_id.replace("-", "").isalnum():
            raise BlobNotFound(upload_id)
        return f"{self.prefix}uploads/{upload_id}/"

    # --- synchronous helpers (run in threads) ---

    def _list(self, prefix: str, delimiter: str | None = None) -> Iterator[dict]:
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def _pieces(self, upload_id: str) -> list[tuple[int, str, int]]:
        """(offset, key, size) of an upload's pieces in order; BlobNotFound without a session."""
        prefix = self._upload_prefix(upload_id)
        pieces, has_marker = [], False
        for page in self._list(prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix):]
                if name == MARKER:
                    has_marker = True
                elif name.isdigit():
                    pieces.append((int(name), item["Key"], int(item["Size"])))
        if not has_marker:
            raise BlobNotFound(upload_id)
        return sorted(pieces)

    def _read_key(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        kwargs = {"Bucket": self.bucket, "Key": key}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            kwargs["Range"] = f"bytes={offset}-{end}"
        try:
            body = self.client.get_object(**kwargs)["Body"]
        except Exception as exc:
            if _missing(exc):
                raise BlobNotFound(key) from None
            raise
        with body:
            while chunk := body.read(READ_CHUNK):
                yield chunk

    def _delete_prefix(self, prefix: str) -> None:
        for page in self._list(prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    # --- committed blobs ---

    async def stat(self, digest: str) -> BlobInfo:
        try:
            head = await _in_thread(self.client.head_object, Bucket=self.bucket, Key=self._blob_key(digest))
        except Exception as exc:
            if _missing(exc):
                raise BlobNotFound(digest) from None
            raise
        return BlobInfo(size=int(head["ContentLength"]))

    async def read(self, digest: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in _iterate_in_thread(self._read_key(self._blob_key(digest), offset, length)):
            yield chunk

    async def delete(self, digest: str) -> None:
        await _in_thread(self.client.delete_object, Bucket=self.bucket, Key=self._blob_key(digest))

    async def list_digests(self) -> AsyncIterator[str]:
        prefix = f"{self.prefix}blobs/"
        for page in await _in_thread(lambda: list(self._list(prefix))):
            for item in page.get("Contents", []):
                algorithm, _, encoded = item["Key"][len(prefix):].partition("/")
                yield f"{algorithm}:{encoded}"

    # --- upload sessions ---

    async def start_upload(self, upload_id: str) -> None:
        await _in_thread(self.client.put_object, Bucket=self.bucket,
                         Key=self._upload_prefix(upload_id) + MARKER, Body=b"")

    async def write_upload(self, upload_id: str, data: bytes, *, seal: bool = False) -> int:
        await self.start_upload(upload_id)

        async def one_chunk() -> AsyncIterator[bytes]:
            yield data

        size = await self.append(upload_id, one_chunk())
        if seal:
            await self.seal(upload_id)
        return size

    async def upload_size(self, upload_id: str) -> int:
        pieces = await _in_thread(self._pieces, upload_id)
        return sum(size for _, _, size in pieces)

    async def append(self, upload_id: str, chunks: AsyncIterator[bytes]) -> int:
        size = await self.upload_size(upload_id)
        prefix = self._upload_prefix(upload_id)
        buffer = bytearray()

        async def flush() -> None:
            nonlocal size
            if buffer:
                await _in_thread(self.client.put_object, Bucket=self.bucket, Key=f"{prefix}{size:020d}",
                                 Body=bytes(buffer))
                size += len(buffer)
                buffer.clear()

        try:
            async for chunk in chunks:
                buffer.extend(chunk)
                if len(buffer) >= PIECE_SIZE:
                    await flush()
        finally:
            # Keep what arrived before a dropped connection, so the client can resume after it.
            await flush()
        return size

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        async for chunk in _iterate_in_thread(self._read_pieces(upload_id)):
            yield chunk

    def _read_pieces(self, upload_id: str) -> Iterator[bytes]:
        for _, key, _ in self._pieces(upload_id):
            yield from self._read_key(key)

    async def truncate_upload(self, upload_id: str, size: int) -> None:
        def cut() -> None:
            for offset, key, piece_size in self._pieces(upload_id):
                if offset >= size:
                    self.client.delete_object(Bucket=self.bucket, Key=key)
                elif offset + piece_size > size:
                    kept = b"".join(self._read_key(key, 0, size - offset))
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=kept)

        await _in_thread(cut)

    async def seal(self, upload_id: str) -> int:
        def concatenate() -> int:
            pieces = self._pieces(upload_id)
            sealed = self._upload_prefix(upload_id) + SEALED
            if len(pieces) == 1:
                self.client.copy({"Bucket": self.bucket, "Key": pieces[0][1]}, self.bucket, sealed)
            else:
                # Streamed through this process with bounded memory (multipart, 8 MiB parts).
                from boto3.s3.transfer import TransferConfig

                reader = io.BufferedReader(_PiecesReader(self._read_pieces(upload_id)), READ_CHUNK)
                self.client.upload_fileobj(reader, self.bucket, sealed,
                                           Config=TransferConfig(multipart_chunksize=PIECE_SIZE, max_concurrency=4))
            return sum(size for _, _, size in pieces)

        return await _in_thread(concatenate)

    async def commit(self, upload_id: str, digest: str) -> BlobInfo:
        return BlobInfo(size=await _in_thread(self._publish, upload_id, digest))

    def commit_now(self, uploads: Sequence[tuple[str, str]]) -> list[BlobInfo]:
        with _boto_errors():
            if len(uploads) == 1:
                return [BlobInfo(size=self._publish(*uploads[0]))]
            # Side by side: each is a few requests' round trips.
            with ThreadPoolExecutor(max_workers=len(uploads)) as pool:
                return [BlobInfo(size=size) for size in pool.map(lambda upload: self._publish(*upload), uploads)]

    def _publish(self, upload_id: str, digest: str) -> int:
        sealed = self._upload_prefix(upload_id) + SEALED
        try:
            size = int(self.client.head_object(Bucket=self.bucket, Key=sealed)["ContentLength"])
        except Exception as exc:
            if _missing(exc):  # the session was dropped (gc) meanwhile, as the local store says it
                raise BlobNotFound(upload_id) from None
            raise
        self.client.copy({"Bucket": self.bucket, "Key": sealed}, self.bucket, self._blob_key(digest))
        self._delete_prefix(self._upload_prefix(upload_id))
        return size

    async def cancel(self, upload_id: str) -> None:
        try:
            await _in_thread(self._delete_prefix, self._upload_prefix(upload_id))
        except BlobNotFound:
            pass

    async def list_uploads(self) -> AsyncIterator[tuple[str, float]]:
        prefix = f"{self.prefix}uploads/"
        changed: dict[str, float] = {}
        for page in await _in_thread(lambda: list(self._list(prefix))):
            for item in page.get("Contents", []):
                upload_id = item["Key"][len(prefix):].split("/", 1)[0]
                changed[upload_id] = max(changed.get(upload_id, 0.0), item["LastModified"].timestamp())
        for upload_id, modified in sorted(changed.items()):
            yield upload_id, modified

    async def abort_incomplete(self, older_than: float) -> int:
        """Abort multipart uploads (of a seal whose process died) started before ``older_than``: their
        parts take space but are listed nowhere else."""
        def abort() -> int:
            aborted = 0
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}uploads/"):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() < older_than:
                        try:
                            self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                               UploadId=upload["UploadId"])
                            aborted += 1
                        except Exception as exc:
                            if not _missing(exc):
                                raise
            return aborted

        return await _in_thread(abort)


async def _iterate_in_thread(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Drive a blocking iterator from a worker thread, one chunk at a time (flat memory)."""
    done = object()
    while True:
        chunk = await _in_thread(next, iterator, done)
        if chunk is done:
            return
        yield chunk  # type: ignore[misc]
