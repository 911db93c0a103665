"""The Database contract, checked on every implementation: SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from registry.storage.database import Database, IntegrityError


async def _add_workspace(db: Database, slug: str) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO workspaces (slug, created_at) VALUES (?, ?)", (slug, time.time()))


def test_write_then_read(db: Database, run) -> None:
    run(_add_workspace(db, "acme"))
    assert run(db.fetchone("SELECT slug FROM workspaces WHERE slug = ?", ("acme",))) == {"slug": "acme"}
    assert run(db.fetchone("SELECT slug FROM workspaces WHERE slug = ?", ("nope",))) is None


def test_duplicates_raise_integrity_error_and_roll_back(db: Database, run) -> None:
    run(_add_workspace(db, "acme"))
    with pytest.raises(IntegrityError):
        run(_add_workspace(db, "acme"))

    async def half_done() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO workspaces (slug, created_at) VALUES (?, ?)", ("half", 1.0))
            raise RuntimeError("crash mid-transaction")

    with pytest.raises(RuntimeError):
        run(half_done())
    assert run(db.fetchone("SELECT slug FROM workspaces WHERE slug = ?", ("half",))) is None


def test_steps_before_commit(db: Database, run) -> None:
    """A transaction's step before its commit runs once its statements are done (for blobs made visible
    before the rows that point at them); if it fails, nothing of the transaction is kept."""
    done: list[str] = []

    async def with_step(slug: str, fail: bool) -> None:
        def step() -> None:
            done.append(slug)
            if fail:
                raise OSError("the rename failed")

        async with db.transaction() as tx:
            tx.before_commit(step)
            await tx.execute("INSERT INTO workspaces (slug, created_at) VALUES (?, ?)", (slug, 1.0))

    run(with_step("kept", False))
    assert run(db.fetchone("SELECT slug FROM workspaces WHERE slug = ?", ("kept",))) == {"slug": "kept"}
    with pytest.raises(OSError, match="the rename failed"):
        run(with_step("dropped", True))
    assert run(db.fetchone("SELECT slug FROM workspaces WHERE slug = ?", ("dropped",))) is None
    assert done == ["kept", "dropped"]
    run(_add_workspace(db, "after"))  # the database takes the next transaction as usual


def test_bytes_round_trip_and_lexical_order(db: Database, run) -> None:
    content = bytes(range(256)) * 10

    async def store() -> None:
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO manifests (package_id, digest, media_type, size, content, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (1, "sha256:x", "t", len(content), content, 1.0))
            for name in ("b", "B", "a", "_x", "10", "9"):
                await tx.execute("INSERT INTO tags (package_id, name, digest, updated_at) VALUES (?, ?, ?, ?)",
                                 (1, name, "sha256:x", 1.0))

    run(store())
    row = run(db.fetchone("SELECT content FROM manifests WHERE digest = ?", ("sha256:x",)))
    assert bytes(row["content"]) == content
    names = [r["name"] for r in run(db.fetchall("SELECT name FROM tags WHERE package_id = ? ORDER BY name", (1,)))]
    assert names == sorted(["b", "B", "a", "_x", "10", "9"])  # byte order, as the OCI spec wants


def test_lock_serialises_writers(db: Database, run) -> None:
    """Two transactions taking the same lock never interleave their read-modify-write."""
    run(_add_workspace(db, "counter"))

    async def increment() -> None:
        async with db.transaction() as tx:
            await tx.lock("counter")
            row = await tx.fetchone("SELECT created_at FROM workspaces WHERE slug = ?", ("counter",))
            await asyncio.sleep(0.01)
            await tx.execute("UPDATE workspaces SET created_at = ? WHERE slug = ?", (row["created_at"] + 1, "counter"))

    async def many() -> None:
        start = (await db.fetchone("SELECT created_at FROM workspaces WHERE slug = ?", ("counter",)))["created_at"]
        await asyncio.gather(*(increment() for _ in range(8)))
        end = (await db.fetchone("SELECT created_at FROM workspaces WHERE slug = ?", ("counter",)))["created_at"]
        assert end - start == 8

    run(many())
