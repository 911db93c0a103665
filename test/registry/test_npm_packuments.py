"""Packuments and tarballs on the wire: full and abbreviated forms, ETag and 304, ``%2f`` names,
HEAD, a revision that moves with every write, and garbage collection that keeps published tarballs."""

from __future__ import annotations

import hashlib
import os

import pytest

from test.registry.conftest import admin, npm_package_admin
from test.support.npm_documents import (
    ABBREVIATED,
    NpmHttp,
    package_json,
    package_tarball,
    publish_document,
    tarball,
)
from test.support.registry_server import RegistryServer

NAME = "@wire/pkg"
INSTALL = {"dependencies": {"left-pad": "^1.0.0"}, "scripts": {"postinstall": "node x.js", "test": "true"}}
# As npm packs it: what installs is in the tarball's package.json and repeated in the document.
DATA = tarball([("package/package.json", package_json(NAME, "1.0.0", **INSTALL)),
                ("package/index.js", b"module.exports = 42;\n")])


@pytest.fixture(scope="module")
def npm(registry: RegistryServer) -> NpmHttp:
    client = npm_package_admin(registry, f"npmwire{os.getpid() % 10**6}", NAME)
    document = publish_document(NAME, "1.0.0", DATA, manifest_extra={
        **INSTALL, "keywords": ["wire"], "readme": "# Hello\n"})
    assert client.publish(NAME, document).status_code == 201
    return client


def test_full_packument(npm: NpmHttp) -> None:
    response = npm.packument(NAME)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert document["_id"] == NAME and document["name"] == NAME and document["_rev"].startswith("1-")
    assert document["dist-tags"] == {"latest": "1.0.0"}
    assert set(document["time"]) == {"created", "modified", "1.0.0"}
    assert document["readme"] == "# Hello\n" and document["keywords"] == ["wire"]
    version = document["versions"]["1.0.0"]
    data = DATA
    assert version["dist"]["tarball"] == f"{npm.registry}/@wire/pkg/-/pkg-1.0.0.tgz"  # rewritten to this server
    assert version["dist"]["shasum"] == hashlib.sha1(data).hexdigest()
    assert version["hasInstallScript"] is True and version["_id"] == f"{NAME}@1.0.0"
    assert "readme" not in version


def test_abbreviated_packument(npm: NpmHttp) -> None:
    response = npm.packument(NAME, abbreviated=True)
    assert response.headers["Content-Type"] == ABBREVIATED
    document = response.json()
    assert set(document) == {"name", "modified", "dist-tags", "versions"}
    version = document["versions"]["1.0.0"]
    assert set(version) <= {"name", "version", "dependencies", "dist", "hasInstallScript", "deprecated", "bin",
                            "engines", "_hasShrinkwrap", "directories", "optionalDependencies", "license",
                            "peerDependencies", "os", "cpu"}
    assert version["dependencies"] == {"left-pad": "^1.0.0"} and version["hasInstallScript"] is True
    assert "scripts" not in version and "keywords" not in version


def test_etag_and_304_and_the_revision_moves(npm: NpmHttp) -> None:
    for abbreviated in (False, True):
        first = npm.packument(NAME, abbreviated)
        etag = first.headers["ETag"]
        again = npm.packument(NAME, abbreviated, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["ETag"] == etag and again.content == b""
    full_etag = npm.packument(NAME).headers["ETag"]
    assert npm.packument(NAME, True).headers["ETag"] != full_etag
    rev = npm.packument(NAME).json()["_rev"]
    escaped = NpmHttp.escaped(NAME)
    assert npm.request("PUT", f"-/package/{escaped}/dist-tags/stable", json="1.0.0").status_code == 201
    after = npm.packument(NAME, headers={"If-None-Match": full_etag})
    assert after.status_code == 200 and after.json()["_rev"] != rev
    assert after.json()["dist-tags"]["stable"] == "1.0.0"


def test_scoped_names_with_either_encoding_and_head(npm: NpmHttp) -> None:
    for path in ("@wire%2fpkg", "@wire%2Fpkg", "@wire/pkg"):
        assert npm.request("GET", path).json()["name"] == NAME
    head = npm.request("HEAD", "@wire%2fpkg")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) > 100
    assert npm.request("GET", "@wire%2fpkg/latest").json()["version"] == "1.0.0"
    assert npm.request("GET", "@wire%2fpkg/1.0.0").json()["version"] == "1.0.0"
    assert npm.request("GET", "@wire%2fpkg/9.9.9").status_code == 404


def test_tarball_download_and_range(npm: NpmHttp) -> None:
    data = DATA
    response = npm.tarball(NAME, "1.0.0")
    assert response.status_code == 200 and response.content == data
    assert response.headers["Content-Type"] == "application/octet-stream"
    part = npm.request("GET", "@wire/pkg/-/pkg-1.0.0.tgz", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == data[:10]
    assert npm.tarball(NAME, "1.0.1").status_code == 404
    assert npm.request("GET", "@wire/pkg/-/other-1.0.0.tgz").status_code == 404


def test_gc_keeps_published_tarballs_and_frees_unpublished_ones(npm: NpmHttp, registry: RegistryServer) -> None:
    escaped = NpmHttp.escaped(NAME)
    assert npm.publish(NAME, publish_document(NAME, "5.0.0")).status_code == 201
    digest = "sha256:" + hashlib.sha256(package_tarball(NAME, "5.0.0")).hexdigest()
    admin(registry, "gc", "--grace-seconds", "0")
    assert npm.tarball(NAME, "1.0.0").status_code == 200
    assert npm.tarball(NAME, "5.0.0").status_code == 200
    document = npm.request("GET", f"{escaped}?write=true").json()
    del document["versions"]["5.0.0"]
    assert npm.request("PUT", f"{escaped}/-rev/{document['_rev']}", json=document).status_code == 200
    stored = [path for path in (registry.data / "blobs").rglob("*") if digest.split(":")[1] in path.name]
    assert stored, "the tarball was stored under its sha256"
    admin(registry, "gc", "--grace-seconds", "0")
    assert not any(path.exists() for path in stored)
    assert npm.tarball(NAME, "1.0.0").status_code == 200


def test_a_purged_package_leaves_nothing_behind(npm: NpmHttp, registry: RegistryServer) -> None:
    """A deleted package, once purged, has no versions or tags left; one created again under that name
    starts empty."""
    name = "@wire/gone"
    workspace = npm.workspace
    admin(registry, "package", "create", f"{workspace}/{name}", "--type", "npm", "--repository", f"{workspace}/code")
    assert npm.publish(name, publish_document(name, "1.0.0")).status_code == 201
    digest = hashlib.sha256(package_tarball(name, "1.0.0")).hexdigest()
    admin(registry, "package", "delete", f"{workspace}/{name}", "--type", "npm")
    admin(registry, "purge", "--older-than-days", "0")
    admin(registry, "package", "create", f"{workspace}/{name}", "--type", "npm", "--repository", f"{workspace}/code")
    assert npm.tarball(name, "1.0.0").status_code == 404
    packument = npm.packument(name)
    assert packument.status_code == 404 or not packument.json().get("versions")
    admin(registry, "gc", "--grace-seconds", "0")
    assert not [path for path in (registry.data / "blobs").rglob("*") if digest in path.name]
    assert npm.publish(name, publish_document(name, "1.0.0")).status_code == 201, "the name is free again"
