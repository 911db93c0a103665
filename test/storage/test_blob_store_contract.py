"""The BlobStore contract, checked on every implementation: local disk and S3 (Ceph radosgw)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from registry.storage.blobs import BlobNotFound, BlobStore
from registry.storage.local import LocalBlobStore
from registry.storage.probe import probe_blob_store
from registry.storage.s3 import PIECE_SIZE, S3BlobStore


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    services = request.getfixturevalue("s3_env")
    return S3BlobStore.create("contract-tests", services["S3_ENDPOINT"], prefix=f"run-{uuid.uuid4().hex[:8]}")


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def dropped_after(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise ConnectionResetError("the client went away")


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


async def read_all(iterator: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in iterator])


def test_upload_commit_read(store: BlobStore, run) -> None:
    upload = str(uuid.uuid4())
    run(store.start_upload(upload))
    assert run(store.upload_size(upload)) == 0
    assert run(store.append(upload, chunks(b"hello ", b"world"))) == 11
    assert run(store.append(upload, chunks(b"!"))) == 12
    assert run(read_all(store.read_upload(upload))) == b"hello world!"
    assert run(store.seal(upload)) == 12
    info = run(store.commit(upload, digest(b"hello world!")))
    assert info.size == 12
    assert run(store.stat(digest(b"hello world!"))).size == 12
    assert run(read_all(store.read(digest(b"hello world!")))) == b"hello world!"
    assert run(read_all(store.read(digest(b"hello world!"), 6, 5))) == b"world"
    assert digest(b"hello world!") in run(_collect(store.list_digests()))
    with pytest.raises(BlobNotFound):
        run(store.upload_size(upload))  # a committed session is gone
    run(store.delete(digest(b"hello world!")))
    with pytest.raises(BlobNotFound):
        run(store.stat(digest(b"hello world!")))
    run(store.delete(digest(b"hello world!")))  # deleting what is absent is no error


def test_write_upload_in_one_step(store: BlobStore, run) -> None:
    """Bytes in hand go into the upload area in one step (sealed or not), and commit like any session."""
    for sealed, data in ((True, b"core metadata"), (False, b"a small file")):
        upload = str(uuid.uuid4())
        assert run(store.write_upload(upload, data, seal=sealed)) == len(data)
        assert run(store.upload_size(upload)) == len(data)
        if not sealed:
            assert run(store.seal(upload)) == len(data)
        assert run(store.commit(upload, digest(data))).size == len(data)
        assert run(read_all(store.read(digest(data)))) == data
    taken = str(uuid.uuid4())
    run(store.write_upload(taken, b"first"))
    run(store.cancel(taken))
    with pytest.raises(BlobNotFound):
        run(store.upload_size(taken))


def test_commit_now_makes_several_sessions_visible_at_once(store: BlobStore, run) -> None:
    """The blocking commit a metadata transaction runs before its own: several sealed sessions (the same
    bytes twice too) visible under their digests; a session gone meanwhile is BlobNotFound."""
    uploads = []
    for data in (b"a wheel", b"its core metadata", b"a wheel"):
        upload = str(uuid.uuid4())
        run(store.write_upload(upload, data, seal=True))
        uploads.append((upload, digest(data)))
    infos = store.commit_now(uploads)
    assert [info.size for info in infos] == [7, 17, 7]
    for data in (b"a wheel", b"its core metadata"):
        assert run(read_all(store.read(digest(data)))) == data
    with pytest.raises(BlobNotFound):
        run(store.upload_size(uploads[0][0]))
    with pytest.raises(BlobNotFound):
        store.commit_now([(str(uuid.uuid4()), digest(b"never uploaded"))])


def test_large_upload_in_pieces(store: BlobStore, run) -> None:
    data = bytes(range(256)) * (PIECE_SIZE // 256 * 2 + 1000)  # more than two S3 pieces
    upload = str(uuid.uuid4())
    run(store.start_upload(upload))
    third = len(data) // 3
    run(store.append(upload, chunks(data[:third])))
    run(store.append(upload, chunks(data[third:2 * third], data[2 * third:])))
    assert run(store.seal(upload)) == len(data)
    run(store.commit(upload, digest(data)))
    assert hashlib.sha256(run(read_all(store.read(digest(data))))).hexdigest() == digest(data).split(":")[1]


def test_dropped_stream_keeps_what_arrived(store: BlobStore, run) -> None:
    upload = str(uuid.uuid4())
    run(store.start_upload(upload))
    with pytest.raises(ConnectionResetError):
        run(store.append(upload, dropped_after(b"abc", b"def")))
    assert run(store.upload_size(upload)) == 6
    run(store.truncate_upload(upload, 4))
    assert run(read_all(store.read_upload(upload))) == b"abcd"
    run(store.append(upload, chunks(b"ef")))
    assert run(read_all(store.read_upload(upload))) == b"abcdef"
    listed = dict(run(_collect(store.list_uploads())))
    assert abs(listed[upload] - time.time()) < 120  # when it last changed: what gc's sweep goes by
    run(store.cancel(upload))
    with pytest.raises(BlobNotFound):
        run(store.upload_size(upload))
    assert upload not in dict(run(_collect(store.list_uploads())))
    run(store.cancel(upload))  # cancelling what is gone is no error


def test_missing_things_are_blob_not_found(store: BlobStore, run) -> None:
    absent = digest(b"never stored " + uuid.uuid4().bytes)
    with pytest.raises(BlobNotFound):
        run(store.stat(absent))
    with pytest.raises(BlobNotFound):
        run(read_all(store.read(absent)))
    with pytest.raises(BlobNotFound):
        run(store.upload_size(str(uuid.uuid4())))
    with pytest.raises(BlobNotFound):
        run(store.stat("sha256:../../etc/passwd"))  # keys are never paths


def test_abort_incomplete_drops_unfinished_store_writes(store: BlobStore, run) -> None:
    if isinstance(store, S3BlobStore):
        # What a process that died while sealing an upload leaves: a multipart upload never completed.
        key = f"{store.prefix}uploads/{uuid.uuid4()}/.sealed"
        started = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)["UploadId"]
        store.client.upload_part(Bucket=store.bucket, Key=key, UploadId=started, PartNumber=1, Body=b"x" * 1024)
        assert run(store.abort_incomplete(time.time() - 3600)) == 0  # younger than the cut-off: kept
        assert run(store.abort_incomplete(time.time() + 60)) >= 1
        left = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=key).get("Uploads", [])
        assert started not in [upload["UploadId"] for upload in left]
    else:
        assert run(store.abort_incomplete(time.time() + 60)) == 0


def test_start_up_probe(store: BlobStore, run) -> None:
    run(probe_blob_store(store))


async def _collect(iterator: AsyncIterator) -> list:
    return [item async for item in iterator]
