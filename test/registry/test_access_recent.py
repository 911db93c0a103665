"""The access store answers repeated lookups from memory: a change made elsewhere must be seen at once.

Two stores on one SQLite file stand for the server and the admin CLI (another process, another
connection): a revocation, a role change or a new package made by one is what the other answers
next, without waiting for the memory to age.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from registry.access.store import AccessStore
from registry.lifecycle import Lifecycle
from registry.storage.sqlite import SqliteDatabase

READ, WRITE = "read:package:bitbucket", "write:package:bitbucket"


def test_changes_by_another_connection_are_seen_by_the_next_lookup(tmp_path: Path) -> None:
    async def scenario() -> None:
        server_db, admin_db = SqliteDatabase(tmp_path / "m.db"), SqliteDatabase(tmp_path / "m.db")
        server, admin = AccessStore(server_db), AccessStore(admin_db)
        await admin.create_workspace("ws")
        repository_id = await admin.create_repository("ws", "repo")
        await admin.create_user("dev@example.com")

        # A package that does not exist yet, asked twice (remembered as absent), then created elsewhere.
        assert await server.get_package("ws", "container", "app") is None
        assert await server.get_package("ws", "container", "app") is None
        await admin.create_package("ws", "app", "container", "ws/repo")
        package = await server.get_package("ws", "container", "app")
        assert package is not None and package.repository_id == repository_id

        # Roles: granted, changed, revoked.
        assert await server.role_of("dev@example.com", repository_id) is None
        await admin.grant("dev@example.com", "ws/repo", "write")
        assert await server.role_of("dev@example.com", repository_id) == "write"
        await admin.grant("dev@example.com", "ws/repo", "read")
        assert await server.role_of("dev@example.com", repository_id) == "read"
        await admin.revoke_role("dev@example.com", "ws/repo")
        assert await server.role_of("dev@example.com", repository_id) is None

        # An API token: live while used, dead the moment it is revoked.
        token_id, secret = await admin.create_api_token("dev@example.com", [READ, WRITE])
        for _ in range(3):
            principal = await server.authenticate("dev@example.com", secret)
            assert principal is not None and principal.credential_id is not None
            assert await server.credential_is_live(principal.credential_id)
        assert await admin.revoke_api_token(token_id)
        assert await server.authenticate("dev@example.com", secret) is None
        assert not await server.credential_is_live(principal.credential_id)

        # A pipeline token: the same.
        username, pipeline_secret = await admin.create_pipeline_token("ws/repo")
        pipeline = await server.authenticate(username, pipeline_secret)
        assert pipeline is not None and pipeline.credential_id is not None
        assert await server.credential_is_live(pipeline.credential_id)
        async with admin_db.transaction() as tx:
            await tx.execute("UPDATE pipeline_tokens SET revoked_at = 1 WHERE id = ?",
                             (pipeline.credential_id.partition(":")[2],))
        assert await server.authenticate(username, pipeline_secret) is None
        assert not await server.credential_is_live(pipeline.credential_id)

        await server_db.close()
        await admin_db.close()

    asyncio.run(scenario())


def test_a_bare_token_is_looked_up_once_and_refused_once_revoked(tmp_path: Path) -> None:
    """A bare token (npm's Bearer, twine's ``__token__``) costs one lookup, names its credential for the audit
    log, and is refused by the very next request after its revocation elsewhere."""
    async def scenario() -> None:
        server_db, admin_db = SqliteDatabase(tmp_path / "m.db"), SqliteDatabase(tmp_path / "m.db")
        server, admin = AccessStore(server_db), AccessStore(admin_db)
        await admin.create_workspace("ws")
        await admin.create_repository("ws", "repo")
        await admin.create_user("dev@example.com")
        token_id, secret = await admin.create_api_token("dev@example.com", [READ, WRITE], name="ci")
        username, pipeline_secret = await admin.create_pipeline_token("ws/repo")

        lookups: list[str] = []
        server_db._conn.set_trace_callback(lambda sql: lookups.append(sql) if "secret_hash" in sql else None)
        principal = await server.authenticate_secret(secret)
        assert principal is not None and principal.name == "dev@example.com"
        assert principal.credential_label == f"api token {token_id} (ci)" and len(lookups) == 1
        pipeline = await server.authenticate_secret(pipeline_secret)
        assert pipeline is not None and pipeline.name == username and pipeline.workspace == "ws"
        assert pipeline.credential_label == f"pipeline token {username.removeprefix('pipeline-')} of repository ws/repo"
        assert len(lookups) == 2
        # With a username, the token must be that user's (or that pipeline token's own name).
        assert await server.authenticate("other@example.com", secret) is None
        assert await server.authenticate("pipeline-0000", pipeline_secret) is None
        assert (await server.authenticate(username, pipeline_secret)) == pipeline

        assert await admin.revoke_api_token(token_id)
        assert await server.authenticate_secret(secret) is None
        async with admin_db.transaction() as tx:
            await tx.execute("UPDATE pipeline_tokens SET revoked_at = 1 WHERE id = ?",
                             (pipeline.credential_id.partition(":")[2],))
        assert await server.authenticate_secret(pipeline_secret) is None
        await server_db.close()
        await admin_db.close()

    asyncio.run(scenario())


def test_a_store_sees_its_own_writes(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = SqliteDatabase(tmp_path / "m.db")
        store = AccessStore(db)
        await store.create_workspace("ws")
        repository_id = await store.create_repository("ws", "repo")
        assert await store.get_package("ws", "container", "app") is None
        created = await store.ensure_package("ws", "app", "container", repository_id)
        assert await store.get_package("ws", "container", "app") == created
        lifecycle = Lifecycle(db, store)
        await lifecycle.delete_package("ws", "container", "app")
        assert await store.get_package("ws", "container", "app") is None
        await lifecycle.restore_package("ws", "container", "app")
        assert await store.get_package("ws", "container", "app") == created
        await lifecycle.delete_repository("ws/repo")
        assert await store.get_package("ws", "container", "app") is None
        await db.close()

    asyncio.run(scenario())
