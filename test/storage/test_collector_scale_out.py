"""The collector beside live replicas on PostgreSQL + S3: no table locks at start, deadlocks retried,
and one background collector at a time across replicas (``serve --gc-interval``)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from registry.gc import COLLECTOR_LOCK, _retrying
from registry.storage.faults import TransactionConflict
from registry.storage.postgres import PostgresDatabase
from test.support import oci_client as oci
from test.support.gc_race import GcLoop, push_beside_gc
from test.support.oci_client import OciClient
from test.support.processes import free_port
from test.support.registry_server import CLI, RegistryServer

TABLES = ("blobs", "package_blobs", "uploads", "manifests", "manifest_refs", "tags", "packages", "users",
          "npm_versions", "maven_files")


def test_starting_against_a_current_database_takes_no_table_lock(tmp_path: Path, scale_out_env: dict[str, str]
                                                                 ) -> None:
    server = RegistryServer(data=tmp_path / "replica", port=free_port(), env=scale_out_env)
    server.cli("migrate")
    with psycopg.connect(scale_out_env["PACKAGES_REGISTRY_DATABASE"]) as holder:
        # Another transaction holds every table a push or gc uses: a start that locked any would wait.
        holder.execute(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE")
        result = subprocess.run([*CLI, "--data", str(server.data), "migrate"], capture_output=True, text=True,
                                env={**server.env, "PATH": "/usr/bin:/bin"}, timeout=60, check=False)
        assert result.returncode == 0 and "up to date" in result.stdout, result.stderr
        server.start()  # waits (30 s at most) for the server to answer
        server.stop()
        holder.rollback()


def test_the_collector_retries_a_deadlock(fresh_schema: str, run) -> None:
    with psycopg.connect(fresh_schema, autocommit=True) as conn:
        conn.execute("CREATE TABLE pair (id INT PRIMARY KEY, n INT NOT NULL)")
        conn.execute("INSERT INTO pair VALUES (1, 0), (2, 0)")
    db = run(PostgresDatabase.connect(fresh_schema))
    attempts = []

    async def both() -> None:
        import asyncio

        first_locked, second_locked = asyncio.Event(), asyncio.Event()

        async def one_way() -> None:
            async with db.transaction() as tx:
                await tx.execute("UPDATE pair SET n = n + 1 WHERE id = 1")
                first_locked.set()
                await second_locked.wait()
                await tx.execute("UPDATE pair SET n = n + 1 WHERE id = 2")

        async def other_way() -> None:
            attempts.append(1)
            async with db.transaction() as tx:
                await tx.execute("UPDATE pair SET n = n + 1 WHERE id = 2")
                second_locked.set()
                await first_locked.wait()
                await tx.execute("UPDATE pair SET n = n + 1 WHERE id = 1")

        # A real deadlock: PostgreSQL aborts one of the two; as the collector does, it runs again.
        results = await asyncio.gather(_retrying(one_way), _retrying(other_way), return_exceptions=True)
        assert all(result is None for result in results), results

    try:
        run(both())
        rows = run(db.fetchall("SELECT n FROM pair ORDER BY id"))
        assert [row["n"] for row in rows] == [2, 2]
    finally:
        run(db.close())


def test_a_deadlock_is_a_transaction_conflict(fresh_schema: str, run) -> None:
    """What _retrying retries: the backend's word for PostgreSQL's deadlock_detected."""
    with psycopg.connect(fresh_schema, autocommit=True) as conn:
        conn.execute("CREATE TABLE pair (id INT PRIMARY KEY, n INT NOT NULL)")
        conn.execute("INSERT INTO pair VALUES (1, 0), (2, 0)")
    db = run(PostgresDatabase.connect(fresh_schema))

    async def collide() -> list:
        import asyncio

        gates = [asyncio.Event(), asyncio.Event()]

        async def way(first: int, second: int, mine: asyncio.Event, theirs: asyncio.Event) -> None:
            async with db.transaction() as tx:
                await tx.execute("UPDATE pair SET n = n + 1 WHERE id = ?", (first,))
                mine.set()
                await theirs.wait()
                await tx.execute("UPDATE pair SET n = n + 1 WHERE id = ?", (second,))

        return await asyncio.gather(way(1, 2, gates[0], gates[1]), way(2, 1, gates[1], gates[0]),
                                    return_exceptions=True)

    try:
        results = run(collide())
        assert sum(isinstance(result, TransactionConflict) for result in results) == 1, results
    finally:
        run(db.close())


@pytest.fixture
def collecting_pair(tmp_path: Path, scale_out_env: dict[str, str]):
    servers = [RegistryServer(data=tmp_path / f"replica{i}", port=free_port(), env=scale_out_env,
                              flags=["--gc-interval", "0.5", "--gc-grace-seconds", "0"]) for i in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_one_background_collector_at_a_time_across_replicas(collecting_pair: list[RegistryServer],
                                                            scale_out_env: dict[str, str], scale_out_admin) -> None:
    first, second = collecting_pair
    token = scale_out_admin.world(("acme/app", "container"), role="admin")
    client = OciClient(second.url, ("dev@acme.example.com", token))
    img = oci.image("collected in the background", layers=2)
    layer = list(img.blobs)[1]
    with psycopg.connect(scale_out_env["PACKAGES_REGISTRY_DATABASE"], autocommit=True) as holder:
        # The collector lock held elsewhere (another replica's collector, say): nobody else collects.
        holder.execute("SELECT pg_advisory_lock(hashtextextended(%s, 1))", (COLLECTOR_LOCK,))
        assert client.push_image("acme/app", "v1", img).status_code == 201
        assert client.delete(f"/v2/acme/app/manifests/{img.digest}").status_code == 202
        time.sleep(2)
        assert client.get(f"/v2/acme/app/blobs/{layer}").status_code == 200
        busy = first.command("gc")
        assert busy.returncode == 2 and "another garbage collection is running" in busy.stderr
        holder.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 1))", (COLLECTOR_LOCK,))
    deadline = time.monotonic() + 30
    while client.get(f"/v2/acme/app/blobs/{layer}").status_code != 404:
        assert time.monotonic() < deadline, first.log_path.read_text()[-2000:]
        time.sleep(0.2)
    logs = first.log_path.read_text() + second.log_path.read_text()
    assert "background garbage collection: " in logs
    assert "Traceback" not in logs


def test_gc_over_and_over_beside_pushes_on_postgres(tmp_path: Path, scale_out_env: dict[str, str],
                                                    scale_out_admin) -> None:
    """gc with no grace, in a loop from its own process, while images are pushed through two replicas:
    it never fails (deadlocks against the pushes are retried), and what was accepted stays whole."""
    servers = [RegistryServer(data=tmp_path / f"replica{i}", port=free_port(), env=scale_out_env,
                              flags=["--gc-interval", "0"]) for i in range(2)]
    for server in servers:
        server.start()
    try:
        token = scale_out_admin.world(("acme/app", "container"))
        clients = [OciClient(server.url, ("dev@acme.example.com", token)) for server in servers]
        accepted = []
        # A second between collections, as a periodic collector leaves: back to back, a push waits for the
        # collection it meets (about two seconds) and nearly always loses its first layers to it, and the one
        # accepted push the test needs took from a dozen to sixty tries (over two minutes in CI).
        with GcLoop(tmp_path / "gc", scale_out_env, pause=1.0) as collector:
            i = 0
            # Until gc has run a few times beside the pushes and some pushes got through whole (with no
            # grace, gc may take a pushed layer before its manifest arrives: that push is refused).
            while (collector.runs < 2 or i < 12 or not accepted) and collector.alive() and i < 200:
                client = clients[i % 2]
                img = oci.image(f"pg-gc-{i}", layers=3)
                i += 1
                if push_beside_gc(client, "acme/app", img, f"v{i}"):
                    accepted.append(img)
        assert not collector.failures, collector.failures[0][-3000:]
        assert accepted
        for img in accepted:
            for digest, blob in img.blobs.items():
                assert clients[1].get(f"/v2/acme/app/blobs/{digest}").content == blob
    finally:
        for server in servers:
            server.stop()
