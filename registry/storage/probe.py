"""A start-up check of a blob store: write, read, stat and delete a small object.

A misconfigured backend (wrong bucket, no permission, read-only disk) then
stops the server at start with a clear message instead of failing the first push.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext

from registry.storage.blobs import BlobStore

# The probe's upload has no session row: a collector in another replica would take it for an abandoned
# upload (at once, with no grace). Uploads named so are left to the collector's own minimum age.
PROBE_UPLOAD_PREFIX = "probe-"
PROBE_UPLOAD_MIN_AGE = 600.0


class StorageProbeFailed(RuntimeError):
    pass


async def probe_blob_store(store: BlobStore,
                           guard: Callable[[str], AbstractAsyncContextManager[object]] | None = None) -> None:
    """``guard(digest)`` holds the probe's blob against a garbage collector running meanwhile (in
    another replica), which would otherwise take it for a stray blob file."""
    payload = f"packages-registry probe {uuid.uuid4()}".encode()
    digest = f"sha256:{hashlib.sha256(payload).hexdigest()}"
    upload_id = f"{PROBE_UPLOAD_PREFIX}{uuid.uuid4()}"

    async def one_chunk():
        yield payload

    try:
        await store.start_upload(upload_id)
        await store.append(upload_id, one_chunk())
        await store.seal(upload_id)
        async with guard(digest) if guard else nullcontext():
            await store.commit(upload_id, digest)
            info = await store.stat(digest)
            data = b"".join([chunk async for chunk in store.read(digest)])
            await store.delete(digest)
    except Exception as exc:
        raise StorageProbeFailed(f"the blob store failed its start-up check: {type(exc).__name__}: {exc}") from exc
    if info.size != len(payload) or data != payload:
        raise StorageProbeFailed("the blob store returned different bytes than were written")
