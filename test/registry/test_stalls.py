"""One request must never stall the server: each hostile input runs while another user's GET /v2/ is
timed (test/support/stall.py), against the real server. The inputs are sized to take seconds on the
event loop of the code before these fixes, and to stay cheap to send."""

from __future__ import annotations

import re

import pytest
import requests

from test.registry.conftest import World, admin
from test.support import oci_client as oci
from test.support.maven_http import MavenHttp
from test.support.npm_documents import NpmHttp, publish_document
from test.support.stall import assert_no_stall

README_BOMBS = {
    "unclosed emphasis": "**a " * 16000,  # 64 KB: quadratic in the old renderer (21 s)
    "nested quotes": "> " * 600 + "deep",  # a RecursionError (a 500 with a 3000-line traceback) before
}


def _probe(world: World) -> tuple[str, str]:
    """Credentials of another user of the registry (the one who waits)."""
    return world.email("read"), world.tokens["read"]


def _page(world: World, path: str) -> requests.Response:
    return requests.get(world.server.url + path, auth=(world.email("admin"), world.tokens["admin"]), timeout=120)


@pytest.mark.parametrize("bomb", list(README_BOMBS))
def test_readme_bombs_on_the_npm_page(world: World, bomb: str) -> None:
    name = "readme-bomb"
    admin(world.server, "package", "create", f"{world.workspace}/{name}", "--type", "npm",
          "--repository", world.repository)
    npm = NpmHttp(world.server.url, world.workspace, NpmHttp.bearer(world.tokens["admin"]))
    document = publish_document(name, "1.0.0", manifest_extra={"readme": README_BOMBS[bomb]})
    assert npm.publish(name, document).status_code in (200, 201)
    path = f"/{world.workspace}/code/packages/npm/{name}"
    page = assert_no_stall(world.server.url, _probe(world), lambda: _page(world, path), what=f"README {bomb}")
    assert page.status_code == 200, page.text[:500]
    readme = re.search(r'<article class="readme">(.*?)</article>', page.text, re.DOTALL)
    assert readme is not None and ("**a" in readme.group(1) or "deep" in readme.group(1))
    again = assert_no_stall(world.server.url, _probe(world), lambda: _page(world, path), what="a second view")
    assert again.status_code == 200


def _label_bomb_index(world: World) -> tuple[str, str]:
    """An index (16 KB) over 100 images that share one config of 70,000 labels (under 1 MiB);
    returns (index digest, one image's digest)."""
    client = world.client("admin")
    labels = {f"k{i:05d}": "" for i in range(70000)}
    config = oci.canonical({"architecture": "amd64", "os": "linux", "config": {"Labels": labels},
                            "rootfs": {"type": "layers", "diff_ids": []}})
    assert len(config) < 1024 * 1024
    layer = b"one shared layer\n"
    for blob in (config, layer):
        assert client.push_blob(world.package, blob).status_code == 201
    children = []
    for i in range(100):
        manifest = oci.canonical({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                                  "config": oci.descriptor(oci.OCI_CONFIG, config),
                                  "layers": [oci.descriptor(oci.OCI_LAYER, layer)], "annotations": {"n": str(i)}})
        digest = oci.digest_of(manifest)
        assert client.push_manifest(world.package, digest, manifest, oci.OCI_MANIFEST).status_code == 201
        children.append(oci.descriptor(oci.OCI_MANIFEST, manifest,
                                       platform={"architecture": f"arch{i}", "os": "linux"}))
    index = oci.canonical({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": children})
    assert len(index) < 24 * 1024
    assert client.push_manifest(world.package, "bomb", index, oci.OCI_INDEX).status_code == 201
    return oci.digest_of(index), children[0]["digest"]


def test_label_bomb_on_the_container_pages(world: World) -> None:
    index, child = _label_bomb_index(world)
    base = f"/{world.workspace}/code/packages/container/app"
    for path, what in ((base, "the tags page"), (f"{base}/-/tags/bomb", "the index's page"),
                       (f"{base}/-/manifests/{child}", "an image's page")):
        page = assert_no_stall(world.server.url, _probe(world), lambda path=path: _page(world, path),
                               what=f"{what} of an index of 100 images with a config of 70,000 labels")
        assert page.status_code == 200, page.text[:500]
    tags_page = _page(world, base).text
    assert index.split(":")[1][:12] in tags_page and "arch99" in tags_page
    image_page = _page(world, f"{base}/-/manifests/{child}").text
    assert image_page.count("<tr><th>k") == 500 and "k00000" in image_page  # labels shown are capped


def test_large_manifests(world: World) -> None:
    """Manifests near the 4 MiB limit (22,000 layer descriptors, all one blob): their PUT, GET and
    pages, and a tags page of eight of them."""
    client = world.client("admin")
    config, layer = oci.config_blob(note="big manifest"), b"the one layer\n"
    for blob in (config, layer):
        assert client.push_blob(world.package, blob).status_code == 201
    document = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST, "config": oci.descriptor(oci.OCI_CONFIG, config),
                "layers": [oci.descriptor(oci.OCI_LAYER, layer, annotations={"i": str(i)}) for i in range(22000)]}
    body = oci.canonical(document)
    assert 3 * 1024 * 1024 < len(body) < 4 * 1024 * 1024
    put = assert_no_stall(world.server.url, _probe(world),
                          lambda: client.push_manifest(world.package, "big", body, oci.OCI_MANIFEST),
                          what="a 4 MiB manifest PUT")
    assert put.status_code == 201, put.text
    got = assert_no_stall(world.server.url, _probe(world), lambda: client.get(
        f"/v2/{world.package}/manifests/big", headers={"Accept": oci.OCI_MANIFEST}), what="its GET")
    assert got.content == body
    base = f"/{world.workspace}/code/packages/container/app"
    page = assert_no_stall(world.server.url, _probe(world), lambda: _page(world, f"{base}/-/tags/big"),
                           what="its page")
    assert page.status_code == 200
    for n in range(7):
        document["annotations"] = {"n": str(n)}
        assert client.push_manifest(world.package, f"big{n}", oci.canonical(document),
                                    oci.OCI_MANIFEST).status_code == 201
    tags_page = assert_no_stall(world.server.url, _probe(world), lambda: _page(world, base),
                                what="a tags page of eight 4 MiB manifests")
    assert tags_page.status_code == 200 and "big6" in tags_page.text


def test_maven_metadata_and_small_deploys_near_their_limits(world: World) -> None:
    """A maven-metadata.xml of 1 MiB in 40,000 elements (parsed by defusedxml) and a 1 MiB file deployed
    whole (four checksums): off the loop. (These were milliseconds on the loop before, not seconds: the
    test keeps them from growing back.)"""
    admin(world.server, "package", "create", f"{world.workspace}/com.example:big", "--type", "maven",
          "--repository", world.repository)
    http = MavenHttp(world.server.url, world.workspace, (world.email("admin"), world.tokens["admin"]))
    versions = "".join(f"<version>1.{i}</version>" for i in range(40000))
    metadata = (f"<metadata><groupId>com.example</groupId><artifactId>big</artifactId><versioning><versions>"
                f"{versions}</versions></versioning></metadata>").encode()
    assert len(metadata) < 1024 * 1024
    put = assert_no_stall(world.server.url, _probe(world),
                          lambda: http.put("com/example/big/maven-metadata.xml", metadata),
                          what="a 1 MiB maven-metadata.xml upload")
    assert put.status_code == 201, put.text
    jar = bytes(range(256)) * 4096
    put = assert_no_stall(world.server.url, _probe(world),
                          lambda: http.put("com/example/big/1.0/big-1.0.jar", jar), what="a 1 MiB deploy")
    assert put.status_code == 201, put.text
    assert http.get("com/example/big/1.0/big-1.0.jar").content == jar
