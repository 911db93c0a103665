"""The credential hardening's queries on both databases: revocation down a token's line, upload-session
caps, and moving 0.1.0's signing key out of the database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from registry.access.models import SCOPE_READ, SCOPE_WRITE
from registry.access.signing_keys import LEGACY_KID, KeyRing, move_database_keys
from registry.access.store import AccessError, AccessStore
from registry.content import ContentService, TooManyUploads, UploadLimits, UploadNotFound
from registry.storage.database import Database
from registry.storage.local import LocalBlobStore


def test_revoking_a_token_revokes_its_line(db: Database, run) -> None:
    store = AccessStore(db)

    async def scenario() -> None:
        await store.create_user("a@example.com")
        root, _ = await store.create_api_token("a@example.com", [SCOPE_READ, SCOPE_WRITE], "root")
        soon = time.time() + 3600
        short, _ = await store.create_api_token("a@example.com", [SCOPE_READ], "short", soon)
        child, _ = await store.create_api_token("a@example.com", [SCOPE_READ], "child", None, parent="a:" + root)
        grandchild, _ = await store.create_api_token("a@example.com", [SCOPE_READ], "gc", soon, parent="a:" + child)
        with pytest.raises(AccessError, match="outlive"):
            await store.create_api_token("a@example.com", [SCOPE_READ], "x", None, parent="a:" + short)
        with pytest.raises(AccessError, match="outlive"):
            await store.create_api_token("a@example.com", [SCOPE_READ], "x", soon + 1, parent="a:" + short)
        with pytest.raises(AccessError, match="lacks"):
            await store.create_api_token("a@example.com", [SCOPE_WRITE], "x", soon, parent="a:" + short)
        assert await store.revoke_api_token(root)
        for token_id in (root, child, grandchild):
            assert not await store.credential_is_live("a:" + token_id)
        assert await store.credential_is_live("a:" + short)
        with pytest.raises(AccessError):
            await store.create_api_token("a@example.com", [SCOPE_READ], "x", soon, parent="a:" + root)

    run(scenario())


def test_upload_caps_count_live_sessions_only(db: Database, run, tmp_path: Path) -> None:
    content = ContentService(db, LocalBlobStore(tmp_path / "blobs"), UploadLimits(2, 3, idle_seconds=3600))

    async def scenario() -> None:
        first = await content.start_upload(1, "a:one")
        await content.start_upload(1, "a:one")
        with pytest.raises(TooManyUploads) as refused:
            await content.start_upload(2, "a:one")
        assert 1 <= refused.value.retry_after <= 3600
        await content.start_upload(1, "a:two")
        with pytest.raises(TooManyUploads):
            await content.start_upload(1, "a:three")  # the package's cap
        # An idle session no longer counts and can no longer be used.
        async with db.transaction() as tx:
            await tx.execute("UPDATE uploads SET updated_at = ? WHERE id = ?", (time.time() - 7200, first))
        await content.start_upload(2, "a:one")
        with pytest.raises(UploadNotFound):
            await content.upload_size(first, 1)
        await content.store(1, _chunks(b"one request, no session cap"))  # one-shot uploads are not capped

    run(scenario())


async def _chunks(data: bytes):
    yield data


def test_the_0_1_0_key_leaves_the_database(db: Database, run, tmp_path: Path) -> None:
    legacy = "ab" * 32

    async def scenario() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?)", ("jwt-signing-key", legacy))
            await tx.execute("INSERT INTO server_secrets (name, value) VALUES (?, ?)", ("ui-csrf-key", legacy))
        ring = KeyRing(tmp_path / "keys", create=True)
        assert await move_database_keys(db, ring)
        assert (await db.fetchone("SELECT COUNT(*) AS n FROM server_secrets"))["n"] == 0
        assert ring.find(LEGACY_KID).secret == bytes.fromhex(legacy)
        assert ring.signing.kid != LEGACY_KID
        assert not await move_database_keys(db, ring)  # nothing left to move on the next start

    run(scenario())
