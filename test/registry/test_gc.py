"""Garbage collection through the admin CLI: dry run, real run, grace period, and gc while pushes go on."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from test.registry.conftest import World, admin, build_world
from test.support import oci_client as oci
from test.support.gc_race import GcLoop, push_beside_gc
from test.support.oci_client import digest_of
from test.support.registry_server import CLI, RegistryServer, start_registry


@pytest.fixture
def gc_world(tmp_path: Path, unique: str) -> Iterator[World]:
    server = start_registry(tmp_path / "gc")
    yield build_world(server, unique)
    server.stop()


def gc(server: RegistryServer, *args: str) -> dict[str, int]:
    output = server.cli("gc", *args)
    numbers = re.match(r"(?:dry run: )?(\d+) unreferenced blob links, (\d+) blobs \((\d+) bytes\)", output)
    assert numbers, output
    return dict(zip(("unlinked", "blobs", "bytes"), map(int, numbers.groups()), strict=True))


def blob_file(server: RegistryServer, digest: str) -> Path:
    algorithm, encoded = digest.split(":")
    return server.data / "blobs" / algorithm / encoded[:2] / encoded


def test_gc_frees_what_deleted_manifests_left(gc_world: World) -> None:
    world, server = gc_world, gc_world.server
    client = world.client("admin")
    gone, kept = oci.image(f"{world.workspace}-gone", layers=2), oci.image(f"{world.workspace}-kept")
    assert client.push_image(world.package, "gone", gone).status_code == 201
    assert client.push_image(world.package, "kept", kept).status_code == 201
    stray = os.urandom(1000)
    assert client.push_blob(world.package, stray).status_code == 201
    assert client.delete(f"/v2/{world.package}/manifests/{gone.digest}").status_code == 202
    freed = [*gone.blobs, digest_of(stray)]

    # Within the grace period nothing goes, not even the blob no manifest references.
    assert gc(server) == {"unlinked": 0, "blobs": 0, "bytes": 0}
    dry = gc(server, "--dry-run", "--grace-seconds", "0")
    assert dry == {"unlinked": 4, "blobs": 4, "bytes": sum(len(gone.blobs[d]) for d in gone.blobs) + len(stray)}
    for digest in freed:
        assert blob_file(server, digest).exists()
        assert client.head(f"/v2/{world.package}/blobs/{digest}").status_code == 200

    assert gc(server, "--grace-seconds", "0") == dry
    for digest in freed:
        assert not blob_file(server, digest).exists()
        assert client.head(f"/v2/{world.package}/blobs/{digest}").status_code == 404
    for digest in kept.blobs:
        assert blob_file(server, digest).exists()
        assert client.get(f"/v2/{world.package}/blobs/{digest}").content == kept.blobs[digest]
    assert client.get(f"/v2/{world.package}/manifests/kept").status_code == 200
    assert gc(server, "--grace-seconds", "0") == {"unlinked": 0, "blobs": 0, "bytes": 0}


def test_shared_blobs_live_while_any_package_uses_them(gc_world: World) -> None:
    world, server = gc_world, gc_world.server
    client = world.client("admin")
    img = oci.image(world.workspace)
    other = world.new_package("other")
    assert client.push_image(world.package, "v1", img).status_code == 201
    assert client.push_image(other, "v1", img).status_code == 201
    assert client.delete(f"/v2/{world.package}/manifests/{img.digest}").status_code == 202
    report = gc(server, "--grace-seconds", "0")
    assert report["unlinked"] == len(img.blobs)
    assert report["blobs"] == 0
    for digest, blob in img.blobs.items():
        assert client.head(f"/v2/{world.package}/blobs/{digest}").status_code == 404
        assert client.get(f"/v2/{other}/blobs/{digest}").content == blob


def test_stale_upload_sessions_are_dropped(gc_world: World) -> None:
    world, server = gc_world, gc_world.server
    client = world.client("write")
    location = client.start_upload(world.package)
    assert client.patch(location, data=b"partial").status_code == 202
    assert "0 stale uploads" in server.cli("gc")
    assert client.get(location).status_code == 204
    assert "1 stale uploads" in server.cli("gc", "--grace-seconds", "0")
    assert client.get(location).status_code == 404
    assert list((server.data / "uploads").iterdir()) == []


def test_gc_while_pushing(gc_world: World) -> None:
    """gc with no grace at all, over and over, while images are pushed: a manifest is accepted only if
    every blob it references is there, and stays there."""
    world, server = gc_world, gc_world.server
    client = world.client("write")
    accepted = []
    with GcLoop(server.data) as collector:
        i = 0
        while (collector.runs < 4 or i < 20) and collector.alive():
            img = oci.image(f"{world.workspace}-{i}", layers=3)
            i += 1
            if push_beside_gc(client, world.package, img, f"v{i}"):
                accepted.append(img)
    assert not collector.failures, collector.failures[0][-3000:]
    assert accepted
    gc(server, "--grace-seconds", "0")
    for img in accepted:
        assert client.get(f"/v2/{world.package}/manifests/{img.digest}").content == img.manifest
        for digest, blob in img.blobs.items():
            assert client.get(f"/v2/{world.package}/blobs/{digest}").content == blob


def test_gc_with_the_default_grace_keeps_a_push_in_progress(gc_world: World) -> None:
    world, server = gc_world, gc_world.server
    client = world.client("write")
    img = oci.image(world.workspace, layers=2)
    for digest, blob in img.blobs.items():
        assert client.push_blob(world.package, blob, digest.split(":")[0]).status_code == 201
    gc(server)  # the blobs are not referenced yet, but young
    assert client.push_manifest(world.package, "late", img.manifest, oci.OCI_MANIFEST).status_code == 201


def test_blob_files_the_database_never_recorded_are_deleted(gc_world: World) -> None:
    """What a crash between an upload's rename and its commit leaves behind."""
    world, server = gc_world, gc_world.server
    client = world.client("write")
    kept = os.urandom(100)
    assert client.push_blob(world.package, kept).status_code == 201
    stray = os.urandom(100)
    path = blob_file(server, digest_of(stray))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(stray)
    assert "1 unrecorded blob files" in server.cli("gc", "--dry-run")
    assert path.exists()
    assert "1 unrecorded blob files" in server.cli("gc")
    assert not path.exists()
    assert blob_file(server, digest_of(kept)).exists()
    assert client.head(f"/v2/{world.package}/blobs/{digest_of(stray)}").status_code == 404


def test_gc_never_drops_an_upload_while_its_bytes_arrive(gc_world: World) -> None:
    """A PATCH whose body trickles in holds a lease: gc with no grace at all, run meanwhile (from another
    process), keeps the session, and the upload completes."""
    world, server = gc_world, gc_world.server
    client = world.client("write")
    location = client.start_upload(world.package)
    pieces = [os.urandom(64 * 1024) for _ in range(12)]
    sent, collected = threading.Event(), threading.Event()

    def trickle() -> Iterator[bytes]:
        for i, piece in enumerate(pieces):
            if i == 3:
                sent.set()
            if i == len(pieces) - 1:
                collected.wait(60)  # the last piece only once the collectors have run
            time.sleep(0.1)
            yield piece

    answer: list = []
    patch = threading.Thread(target=lambda: answer.append(client.patch(location, data=trickle())))
    patch.start()
    assert sent.wait(30)
    try:
        for _ in range(2):
            assert "0 stale uploads" in server.cli("gc", "--grace-seconds", "0")
    finally:
        collected.set()
    patch.join(60)
    assert answer and answer[0].status_code == 202, answer
    data = b"".join(pieces)
    done = client.put(answer[0].headers["Location"], params={"digest": digest_of(data)})
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/{world.package}/blobs/{digest_of(data)}").content == data
    # Once it has stopped receiving, an idle session is fair game again.
    idle = client.start_upload(world.package)
    assert client.patch(idle, data=b"idle").status_code == 202
    assert "1 stale uploads" in server.cli("gc", "--grace-seconds", "0")


def test_upload_files_no_session_records_are_swept(gc_world: World) -> None:
    """A server killed after storing a file's bytes and before recording them (here: while another
    process holds the database's write lock) leaves an upload file with no row; gc removes it once it
    is older than the grace period."""
    world, server = gc_world, gc_world.server
    admin_auth = (world.email("admin"), world.tokens["admin"])
    maven_package = f"{world.workspace}/com.example:crash"
    admin(server, "package", "create", maven_package, "--type", "maven", "--repository", world.repository)
    jar = os.urandom(200 * 1024)
    url = f"{server.url}/maven/{world.workspace}/com/example/crash/1.0/crash-1.0.jar"
    assert requests.get(url, auth=admin_auth, timeout=30).status_code == 404  # signed in (its one write) before
    holder = sqlite3.connect(server.data / "metadata.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock: the upload's commit waits for it
    try:
        put = threading.Thread(target=lambda: _quietly(lambda: requests.put(url, data=jar, auth=admin_auth,
                                                                            timeout=60)))
        put.start()
        uploads = server.data / "uploads"
        deadline = time.monotonic() + 30
        while not any(path.stat().st_size == len(jar) for path in uploads.iterdir()):
            assert time.monotonic() < deadline, "the upload's bytes were never written"
            time.sleep(0.05)
        server.process.kill()  # kill -9, mid-commit
        server.process.wait(10)
        put.join(60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(list(uploads.iterdir())) == 1
    server.start()
    assert "0 unrecorded upload files" in server.cli("gc")  # younger than the grace period
    assert "1 unrecorded upload files" in server.cli("gc", "--grace-seconds", "0", "--dry-run")
    assert "1 unrecorded upload files" in server.cli("gc", "--grace-seconds", "0")
    assert list(uploads.iterdir()) == []


def _quietly(call) -> None:
    try:
        call()
    except requests.RequestException:
        pass  # the server was killed under it: expected


def test_serve_gc_interval_collects_in_the_background_one_process_at_a_time(tmp_path: Path, unique: str) -> None:
    server = start_registry(tmp_path / "bg", "--workers", "2", "--gc-interval", "0.5", "--gc-grace-seconds", "0")
    try:
        world = build_world(server, unique)
        client = world.client("admin")
        img = oci.image(unique, layers=2)
        # While another collector holds the lock (here, the test itself), no background run starts.
        lock = os.open(server.data / "metadata.db.gc.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            assert client.push_image(world.package, "v1", img).status_code == 201
            assert client.delete(f"/v2/{world.package}/manifests/{img.digest}").status_code == 202
            time.sleep(2)
            assert all(blob_file(server, digest).exists() for digest in img.blobs)
            refused = subprocess.run([*CLI, "--data", str(server.data), "gc"], capture_output=True, text=True,
                                     check=False)
            assert refused.returncode == 2 and "another garbage collection is running" in refused.stderr
        finally:
            os.close(lock)
        deadline = time.monotonic() + 30
        while any(blob_file(server, digest).exists() for digest in img.blobs):
            assert time.monotonic() < deadline, server.log_path.read_text()[-3000:]
            time.sleep(0.2)
        assert "background garbage collection: " in server.log_path.read_text()
    finally:
        server.stop()
