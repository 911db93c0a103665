"""Manifests by tag and digest (OCI manifest and index, Docker schema2 and manifest list), tags, deletes."""

from __future__ import annotations

import pytest

from test.registry.conftest import World
from test.support import oci_client as oci
from test.support.oci_client import OciClient, digest_of, error_codes


def _check_served(client: OciClient, name: str, reference: str, content: bytes, media_type: str) -> None:
    got = client.get(f"/v2/{name}/manifests/{reference}", headers={"Accept": oci.ACCEPT})
    assert got.status_code == 200, got.text
    assert got.content == content  # verbatim, byte for byte
    assert got.headers["Content-Type"] == media_type
    assert got.headers["Docker-Content-Digest"] == digest_of(content)
    head = client.head(f"/v2/{name}/manifests/{reference}", headers={"Accept": oci.ACCEPT})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(content))
    assert head.headers["Docker-Content-Digest"] == digest_of(content)
    assert head.headers["Content-Type"] == media_type


@pytest.mark.parametrize(("manifest_type", "index_type"), [
    (oci.OCI_MANIFEST, oci.OCI_INDEX), (oci.DOCKER_MANIFEST, oci.DOCKER_LIST),
])
def test_images_and_indexes_by_tag_and_digest(world: World, manifest_type: str, index_type: str) -> None:
    client, reader = world.client("write"), world.client("read")
    amd = oci.image(f"{world.workspace}-amd", media_type=manifest_type, arch="amd64")
    arm = oci.image(f"{world.workspace}-arm", media_type=manifest_type, arch="arm64")
    for img, tag in ((amd, "amd"), (arm, "arm")):
        put = client.push_image(world.package, tag, img)
        assert put.status_code == 201, put.text
        assert put.headers["Docker-Content-Digest"] == img.digest
        assert put.headers["Location"] == f"/v2/{world.package}/manifests/{img.digest}"
        _check_served(reader, world.package, tag, img.manifest, manifest_type)
        _check_served(reader, world.package, img.digest, img.manifest, manifest_type)

    listing = oci.index([(amd, "amd64"), (arm, "arm64")], index_type)
    put = client.push_manifest(world.package, "multi", listing, index_type)
    assert put.status_code == 201, put.text
    _check_served(reader, world.package, "multi", listing, index_type)
    _check_served(reader, world.package, digest_of(listing), listing, index_type)


def test_bytes_are_kept_verbatim(world: World) -> None:
    client = world.client("write")
    img = oci.image(world.workspace)
    for blob in img.blobs.values():
        client.push_blob(world.package, blob)
    # Odd whitespace and key order that a re-serialisation would lose.
    pretty = b'{\n  "schemaVersion" : 2,\n' + img.manifest[1:].replace(b'"schemaVersion":2,', b"") + b"\n\n"
    assert client.push_manifest(world.package, "pretty", pretty, oci.OCI_MANIFEST).status_code == 201
    _check_served(world.client("read"), world.package, "pretty", pretty, oci.OCI_MANIFEST)


def test_manifest_pushed_by_sha512_digest(world: World) -> None:
    client = world.client("write")
    img = oci.image(world.workspace, algorithm="sha512")
    for digest, blob in img.blobs.items():
        assert client.push_blob(world.package, blob, "sha512").status_code == 201
    digest = digest_of(img.manifest, "sha512")
    put = client.push_manifest(world.package, digest, img.manifest, oci.OCI_MANIFEST)
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest
    got = world.client("read").get(f"/v2/{world.package}/manifests/{digest}")
    assert got.status_code == 200
    assert got.content == img.manifest
    assert got.headers["Docker-Content-Digest"] == digest


def test_manifest_digest_must_match_the_reference(world: World) -> None:
    client = world.client("write")
    img = oci.image(world.workspace)
    for blob in img.blobs.values():
        client.push_blob(world.package, blob)
    wrong = digest_of(b"not the manifest")
    response = client.push_manifest(world.package, wrong, img.manifest, oci.OCI_MANIFEST)
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert client.get(f"/v2/{world.package}/manifests/{img.digest}").status_code == 404


def test_missing_blobs_are_manifest_blob_unknown(world: World) -> None:
    client = world.client("write")
    img = oci.image(world.workspace, layers=2)
    config_digest = next(iter(img.blobs))
    client.push_blob(world.package, img.blobs[config_digest])  # the layers are never pushed
    response = client.push_manifest(world.package, "broken", img.manifest, oci.OCI_MANIFEST)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    assert client.get(f"/v2/{world.package}/manifests/broken").status_code == 404
    # An index of manifests the repository does not have is refused the same way.
    listing = oci.index([(img, "amd64")])
    response = client.push_manifest(world.package, "broken-index", listing, oci.OCI_INDEX)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


NON_DISTRIBUTABLE = ["application/vnd.oci.image.layer.nondistributable.v1.tar",
                     "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                     "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                     "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"]


@pytest.mark.parametrize("media_type", NON_DISTRIBUTABLE)
def test_non_distributable_layers_with_urls_need_no_blob(world: World, media_type: str) -> None:
    """Windows base images: their foreign layers live at their urls, and the registry need not hold them;
    every other blob must still be there."""
    client = world.client("write")
    config, layer = oci.config_blob(note=media_type), f"own layer of {media_type}".encode()
    foreign = oci.descriptor(media_type, b"foreign base layer " + media_type.encode(),
                             urls=["https://mcr.example.com/v2/windows/blobs/sha256-of-it"])
    manifest_type = oci.DOCKER_MANIFEST if "docker" in media_type else oci.OCI_MANIFEST
    document = {"schemaVersion": 2, "mediaType": manifest_type,
                "config": oci.descriptor(oci.DOCKER_CONFIG if "docker" in media_type else oci.OCI_CONFIG, config),
                "layers": [foreign, oci.descriptor(oci.OCI_LAYER, layer)]}
    body = oci.canonical(document)
    client.push_blob(world.package, config)
    missing_own = client.push_manifest(world.package, "windows", body, manifest_type)
    assert missing_own.status_code == 400 and error_codes(missing_own) == ["MANIFEST_BLOB_UNKNOWN"]
    client.push_blob(world.package, layer)
    assert client.push_manifest(world.package, "windows", body, manifest_type).status_code == 201
    assert client.get(f"/v2/{world.package}/manifests/windows", headers={"Accept": manifest_type}).content == body
    # Without urls it is an ordinary layer, which must be there.
    document["layers"][0] = {key: value for key, value in foreign.items() if key != "urls"}
    response = client.push_manifest(world.package, "no-urls", oci.canonical(document), manifest_type)
    assert response.status_code == 400 and error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


def test_unknown_manifest(world: World) -> None:
    client = world.client("read")
    for reference in ("nope", digest_of(b"nope")):
        response = client.get(f"/v2/{world.package}/manifests/{reference}")
        assert response.status_code == 404
        assert error_codes(response) == ["MANIFEST_UNKNOWN"]
        assert client.head(f"/v2/{world.package}/manifests/{reference}").status_code == 404


def test_subject_may_be_missing_and_is_answered_with_oci_subject(world: World) -> None:
    client = world.client("write")
    absent = oci.image(f"{world.workspace}-absent")
    artifact = oci.image(world.workspace, artifact_type="application/vnd.example.sbom",
                         subject=oci.descriptor(oci.OCI_MANIFEST, absent.manifest))
    put = client.push_image(world.package, artifact.digest, artifact)
    assert put.status_code == 201, put.text
    assert put.headers["OCI-Subject"] == absent.digest


def test_tag_moves_to_the_new_manifest(world: World) -> None:
    client = world.client("write")
    first, second = oci.image(f"{world.workspace}-1"), oci.image(f"{world.workspace}-2")
    assert client.push_image(world.package, "latest", first).status_code == 201
    assert client.push_image(world.package, "latest", second).status_code == 201
    got = client.get(f"/v2/{world.package}/manifests/latest")
    assert got.headers["Docker-Content-Digest"] == second.digest
    # The old manifest stays reachable by digest.
    assert client.get(f"/v2/{world.package}/manifests/{first.digest}").status_code == 200


def test_tags_list_in_lexical_order_with_pagination(world: World) -> None:
    client = world.client("write")
    img = oci.image(world.workspace)
    tags = ["v10", "v2", "V1", "latest", "a_b", "1.0", "z-last"]
    for blob in img.blobs.values():
        client.push_blob(world.package, blob)
    for tag in tags:
        assert client.push_manifest(world.package, tag, img.manifest, oci.OCI_MANIFEST).status_code == 201
    reader = world.client("read")
    everything = reader.get(f"/v2/{world.package}/tags/list")
    assert everything.status_code == 200
    assert everything.json() == {"name": world.package, "tags": sorted(tags)}
    assert "Link" not in everything.headers

    seen, path = [], f"/v2/{world.package}/tags/list?n=3"
    while path:
        page = reader.get(path)
        assert page.status_code == 200
        assert len(page.json()["tags"]) <= 3
        seen += page.json()["tags"]
        link = page.headers.get("Link")
        path = link.split(";")[0].strip("<> ") if link else None
    assert seen == sorted(tags)

    after = reader.get(f"/v2/{world.package}/tags/list", params={"last": "latest", "n": 2})
    assert after.json()["tags"] == sorted(t for t in tags if t > "latest")[:2]
    assert reader.get(f"/v2/{world.package}/tags/list", params={"n": 0}).json()["tags"] == []
    bad = reader.get(f"/v2/{world.package}/tags/list", params={"n": "-1"})
    assert bad.status_code == 400


def test_delete_tag_manifest_and_blob(world: World) -> None:
    writer, boss = world.client("write"), world.client("admin")
    img = oci.image(world.workspace)
    assert writer.push_image(world.package, "one", img).status_code == 201
    assert writer.push_manifest(world.package, "two", img.manifest, oci.OCI_MANIFEST).status_code == 201

    assert boss.delete(f"/v2/{world.package}/manifests/one").status_code == 202
    assert boss.get(f"/v2/{world.package}/manifests/one").status_code == 404
    assert boss.get(f"/v2/{world.package}/manifests/two").status_code == 200
    assert boss.delete(f"/v2/{world.package}/manifests/one").status_code == 404

    assert boss.delete(f"/v2/{world.package}/manifests/{img.digest}").status_code == 202
    assert boss.get(f"/v2/{world.package}/manifests/{img.digest}").status_code == 404
    assert boss.get(f"/v2/{world.package}/manifests/two").status_code == 404  # its tags went with it
    assert boss.get(f"/v2/{world.package}/tags/list").json()["tags"] == []
    unknown = boss.delete(f"/v2/{world.package}/manifests/{img.digest}")
    assert unknown.status_code == 404
    assert error_codes(unknown) == ["MANIFEST_UNKNOWN"]

    layer = list(img.blobs)[1]
    assert boss.delete(f"/v2/{world.package}/blobs/{layer}").status_code == 202
    assert boss.get(f"/v2/{world.package}/blobs/{layer}").status_code == 404
    assert error_codes(boss.delete(f"/v2/{world.package}/blobs/{layer}")) == ["BLOB_UNKNOWN"]


def test_catalog_is_paginated_and_filtered(world: World) -> None:
    hidden_repo = world.new_repository("hidden")
    world.new_package("hidden-img", hidden_repo)
    names = sorted([world.package] + [world.new_package(f"img-{i}") for i in range(4)])
    reader = world.client("read")
    seen, path = [], "/v2/_catalog?n=2"
    while path:
        page = reader.get(path)
        assert page.status_code == 200
        assert len(page.json()["repositories"]) <= 2
        seen += page.json()["repositories"]
        link = page.headers.get("Link")
        path = link.split(";")[0].strip("<> ") if link else None
    mine = [name for name in seen if name.startswith(f"{world.workspace}/")]
    assert mine == names  # in lexical order, and nothing of the repository the reader has no role on
    assert seen == sorted(seen)
    after = reader.get("/v2/_catalog", params={"last": names[1], "n": 2}).json()["repositories"]
    assert after == names[2:4]
    assert world.client(None).get("/v2/_catalog").status_code == 401
