"""Garbage collection through the admin CLI: dry run, real run, grace period, and gc while pushes go on."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from test.registry.conftest import World, build_world
from test.support import oci_client as oci
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
    stop = threading.Event()
    runs: list[int] = []
    failures: list[str] = []

    def collect() -> None:
        while not stop.is_set():
            result = subprocess.run([*CLI, "--data", str(server.data), "gc", "--grace-seconds", "0"],
                                    capture_output=True, text=True, check=False, timeout=120)
            if result.returncode != 0:
                failures.append(result.stderr)
                return
            runs.append(1)

    collector = threading.Thread(target=collect)
    collector.start()
    accepted = []
    try:
        i = 0
        while (len(runs) < 4 or i < 20) and collector.is_alive():
            img = oci.image(f"{world.workspace}-{i}", layers=3)
            i += 1
            for blob in img.blobs.values():
                pushed = client.push_blob(world.package, blob)
                # With no grace at all, gc may drop an upload session under way: a clean 404, never a 5xx.
                assert pushed.status_code == 201 or oci.error_codes(pushed) == ["BLOB_UPLOAD_UNKNOWN"], pushed.text
            response = client.push_manifest(world.package, f"v{i}", img.manifest, img.media_type)
            if response.status_code == 201:
                accepted.append(img)
            else:
                assert oci.error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"], response.text
    finally:
        stop.set()
        collector.join()
    assert not failures, failures[0][-3000:]
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
