"""Staging bytes in hand (ContentService.stage): with ``early`` the digests come back while the write and
sync go on; the commit waits for them before it renames the blob into place, and a discard leaves nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from registry.access.store import AccessStore
from registry.content import ContentService
from registry.storage.local import LocalBlobStore
from registry.storage.sqlite import SqliteDatabase


def test_early_staging_commits_and_discards(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = SqliteDatabase(tmp_path / "m.db")
        blobs = LocalBlobStore(tmp_path / "blobs")
        access = AccessStore(db)
        await access.create_workspace("ws")
        await access.create_repository("ws", "repo")
        package = await access.create_package("ws", "dist", "pypi", "ws/repo")
        content = ContentService(db, blobs)
        wheel, metadata = os.urandom(300_000), b"Metadata-Version: 2.1\nName: dist\n"

        staged = [await content.stage(data, ("md5", "blake2b_256"), seal=True, early=True)
                  for data in (wheel, metadata)]
        assert staged[0].hexdigests == {"sha256": hashlib.sha256(wheel).hexdigest(),
                                        "md5": hashlib.md5(wheel).hexdigest(),
                                        "blake2b_256": hashlib.blake2b(wheel, digest_size=32).hexdigest()}
        infos = await content.commit_staged_together(staged, package.id)
        assert [info.size for info in infos] == [len(wheel), len(metadata)]
        for data in (wheel, metadata):
            digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
            assert (tmp_path / "blobs" / "blobs" / "sha256" / digest[7:9] / digest[7:]).read_bytes() == data
            assert await content.linked_blob(package.id, digest) == len(data)

        refused = await content.stage(os.urandom(1000), seal=True, early=True)
        await content.discard(refused)  # waits for the write under way, then drops it
        assert list((tmp_path / "blobs" / "uploads").iterdir()) == []
        await db.close()

    asyncio.run(scenario())
