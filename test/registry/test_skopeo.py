"""skopeo both ways: an OCI layout with a multi-arch index (--all) to the registry and back, dir: copies,
registry to registry, list-tags, inspect and delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test.registry.conftest import World
from test.support import oci_client as oci
from test.support.oci_client import digest_of
from test.support.oci_layout import layout_blob, write_multiarch_layout
from test.support.skopeo import skopeo


def creds(world: World, role: str) -> str:
    return f"{world.email(role)}:{world.tokens[role]}"


@pytest.fixture
def layout(tmp_path: Path, world: World) -> tuple[Path, str]:
    path = tmp_path / "layout"
    return path, write_multiarch_layout(path, "multi", world.workspace)


def test_multiarch_layout_to_registry_and_back(world: World, tmp_path: Path, layout: tuple[Path, str]) -> None:
    source, index_digest = layout
    target = f"docker://{world.server.host}/{world.package}:multi"
    skopeo(tmp_path, "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
           "--dest-creds", creds(world, "write"), "oci:" + str(source) + ":multi", target)

    reader = world.client("read")
    got = reader.get(f"/v2/{world.package}/manifests/multi", headers={"Accept": oci.ACCEPT})
    assert got.status_code == 200
    assert got.headers["Content-Type"] == oci.OCI_INDEX
    assert got.headers["Docker-Content-Digest"] == index_digest
    assert got.content == layout_blob(source, index_digest)
    for entry in got.json()["manifests"]:
        child = reader.get(f"/v2/{world.package}/manifests/{entry['digest']}", headers={"Accept": oci.ACCEPT})
        assert child.content == layout_blob(source, entry["digest"])

    raw = skopeo(tmp_path, "inspect", "--raw", "--tls-verify=false", "--creds", creds(world, "read"), target)
    assert raw.stdout.encode() == layout_blob(source, index_digest)

    back = tmp_path / "back"
    skopeo(tmp_path, "copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-creds",
           creds(world, "read"), target, f"oci:{back}:multi")
    back_index = json.loads((back / "index.json").read_text())
    assert back_index["manifests"][0]["digest"] == index_digest
    for entry in json.loads(layout_blob(back, index_digest))["manifests"]:
        manifest = json.loads(layout_blob(back, entry["digest"]))
        for blob in [manifest["config"], *manifest["layers"]]:
            assert layout_blob(back, blob["digest"]) == layout_blob(source, blob["digest"])


def test_dir_copies_registry_to_registry_tags_and_delete(world: World, tmp_path: Path,
                                                         layout: tuple[Path, str]) -> None:
    source, index_digest = layout
    target = f"docker://{world.server.host}/{world.package}"
    skopeo(tmp_path, "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
           "--dest-creds", creds(world, "write"), f"oci:{source}:multi", f"{target}:multi")
    arm = next(entry for entry in json.loads(layout_blob(source, index_digest))["manifests"]
               if entry["platform"]["architecture"] == "arm64")

    # One platform out to a dir:, and back in under a new tag.
    out = tmp_path / "dir"
    skopeo(tmp_path, "--override-arch", "arm64", "copy", "--src-tls-verify=false", "--src-creds",
           creds(world, "read"), f"{target}:multi", f"dir:{out}")
    assert digest_of((out / "manifest.json").read_bytes()) == arm["digest"]
    skopeo(tmp_path, "copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds(world, "write"),
           f"dir:{out}", f"{target}:arm-only")
    got = world.client("read").head(f"/v2/{world.package}/manifests/arm-only", headers={"Accept": oci.ACCEPT})
    assert got.headers["Docker-Content-Digest"] == arm["digest"]

    # Registry to registry, into another package (its blobs come by cross-repository mount or upload).
    other = world.new_package("copy")
    skopeo(tmp_path, "copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
           "--src-creds", creds(world, "read"), "--dest-creds", creds(world, "write"),
           f"{target}:multi", f"docker://{world.server.host}/{other}:copied")
    copied = world.client("read").get(f"/v2/{other}/manifests/copied", headers={"Accept": oci.ACCEPT})
    assert copied.headers["Docker-Content-Digest"] == index_digest

    tags = skopeo(tmp_path, "list-tags", "--tls-verify=false", "--creds", creds(world, "read"), target)
    assert json.loads(tags.stdout)["Tags"] == ["arm-only", "multi"]

    refused = skopeo(tmp_path, "delete", "--tls-verify=false", "--creds", creds(world, "write"),
                     f"{target}:arm-only", check=False)
    assert refused.returncode != 0
    assert world.client("read").get(f"/v2/{world.package}/manifests/arm-only").status_code == 200
    skopeo(tmp_path, "delete", "--tls-verify=false", "--creds", creds(world, "admin"), f"{target}:arm-only")
    # skopeo deletes by digest: the manifest goes, with every tag on it.
    assert world.client("read").get(f"/v2/{world.package}/manifests/{arm['digest']}").status_code == 404
    assert world.client("read").get(f"/v2/{world.package}/manifests/arm-only").status_code == 404


def test_skopeo_without_rights(world: World, tmp_path: Path, layout: tuple[Path, str]) -> None:
    source, _ = layout
    refused = skopeo(tmp_path, "copy", "--all", "--dest-tls-verify=false", "--dest-creds", creds(world, "read"),
                     f"oci:{source}:multi", f"docker://{world.server.host}/{world.package}:nope", check=False)
    assert refused.returncode != 0
    assert world.tokens["read"] not in refused.stderr
    assert world.client("read").get(f"/v2/{world.package}/manifests/nope").status_code == 404


def test_copy_between_images_of_a_workspace_mounts_the_blobs(world: World, tmp_path: Path) -> None:
    """skopeo (token auth) mounts blobs that its blob cache knows to be in a sibling image: 201 Created,
    nothing uploaded again."""
    img = oci.image(world.workspace + " to mount", layers=2)
    assert world.client("write").push_image(world.package, "src", img).status_code == 201
    source = f"docker://{world.server.host}/{world.package}:src"
    args = ["--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", creds(world, "write"),
            "--dest-creds", creds(world, "write")]
    # The first copy teaches skopeo's blob cache where the blobs are; the second mounts them from there.
    skopeo(tmp_path, "copy", *args, source, f"docker://{world.server.host}/{world.new_package('copy-one')}:dst")
    target = world.new_package("copy-two")
    log = skopeo(tmp_path, "--debug", "copy", *args, source, f"docker://{world.server.host}/{target}:dst").stderr
    # "mount OK" is skopeo's word for a 201 Created to its mount (a 202 is "started an upload instead").
    assert log.count("... mount OK") >= len(img.blobs) - 1, log[-3000:]  # the layers at least
    got = world.client("read").get(f"/v2/{target}/manifests/dst", headers={"Accept": oci.ACCEPT})
    assert got.status_code == 200 and got.content == img.manifest
