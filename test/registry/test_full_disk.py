"""A full disk: the data dir on a 64 MiB tmpfs (mounted here, as root; unmounted after).

A write that does not fit answers 507 in the protocol's format and leaves nothing behind; reads go
on; garbage collection frees space on the full disk; blob writes stop at a reserve so that metadata
commits (the collector's too) still fit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from test.registry.conftest import World, build_world
from test.support import oci_client as oci
from test.support.maven_http import MavenHttp, artifact_path
from test.support.oci_client import digest_of
from test.support.processes import free_port
from test.support.registry_server import RegistryServer

MiB = 1024 * 1024
RESERVE = 8 * MiB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def upload_files(server: RegistryServer) -> list[str]:
    return os.listdir(server.data / "uploads")


def test_a_full_disk_answers_507_keeps_serving_and_gc_frees_it(small_disk: Path, unique: str) -> None:
    server = RegistryServer(data=small_disk / "data", port=free_port(), flags=["--reserve-bytes", str(RESERVE)])
    server.start()
    try:
        world = build_world(server, unique)
        client = world.client("write")
        kept_layer, dropped_layer = os.urandom(20 * MiB), os.urandom(20 * MiB)
        kept, dropped = image_with(kept_layer), image_with(dropped_layer)
        assert client.push_image(world.package, "kept", kept).status_code == 201
        assert client.push_image(world.package, "dropped", dropped).status_code == 201

        # Blob writes stop at the reserve: a clean 507, in each protocol's format, and nothing kept.
        before = free_bytes(small_disk)
        big = os.urandom(30 * MiB)
        refused = client.push_blob(world.package, big)
        assert refused.status_code == 507, refused.text
        assert oci.error_codes(refused) == ["UNKNOWN"] and "storage is full" in refused.json()["errors"][0]["message"]
        maven = maven_world(server, world)
        deploy = maven.put(artifact_path("com.example", "big", "1.0"), big)
        assert deploy.status_code == 507 and "storage is full" in deploy.reason
        assert upload_files(server) == []
        assert free_bytes(small_disk) >= before - MiB
        assert free_bytes(small_disk) >= RESERVE - MiB  # what metadata may still use

        # Reads go on.
        assert client.get(f"/v2/{world.package}/blobs/{digest_of(kept_layer)}").content == kept_layer
        assert client.get(f"/v2/{world.package}/manifests/kept").status_code == 200

        # The collector frees what is no longer referenced, on this full disk; then the push fits.
        assert world.client("admin").delete(f"/v2/{world.package}/manifests/{dropped.digest}").status_code == 202
        output = server.cli("gc", "--grace-seconds", "0")
        assert "unreferenced blob links" in output
        assert not (server.data / "blobs" / "sha256" / digest_of(dropped_layer)[7:9]
                    / digest_of(dropped_layer)[7:]).exists()
        assert client.push_blob(world.package, big).status_code == 201

        # Without a reserve a write runs to the disk's last byte: the same clean 507, and the partial
        # bytes of that write go at once.
        server.stop()
        server.flags = ["--reserve-bytes", "0"]
        server.start()
        refused = client.push_blob(world.package, os.urandom(30 * MiB))
        assert refused.status_code == 507, refused.text
        assert upload_files(server) == []
        assert client.get(f"/v2/{world.package}/blobs/{digest_of(kept_layer)}").content == kept_layer
        assert "Traceback" not in server.log_path.read_text()
        assert ": 507, blob store" in server.log_path.read_text()
    finally:
        server.stop()


def image_with(layer: bytes) -> oci.Image:
    config = oci.config_blob(note=digest_of(layer))
    manifest = oci.canonical({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                              "config": oci.descriptor(oci.OCI_CONFIG, config),
                              "layers": [oci.descriptor(oci.OCI_LAYER, layer)]})
    return oci.Image(manifest, oci.OCI_MANIFEST, {digest_of(config): config, digest_of(layer): layer})


def maven_world(server: RegistryServer, world: World) -> MavenHttp:
    world_admin = world.email("admin")
    from test.registry.conftest import admin

    admin(server, "package", "create", f"{world.workspace}/com.example:big", "--type", "maven",
          "--repository", world.repository)
    return MavenHttp(server.url, world.workspace, (world_admin, world.tokens["admin"]))
