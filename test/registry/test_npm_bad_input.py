"""Hostile and broken publishes are refused with a clear npm error and a 4xx, and nothing is stored.

Tarballs whose entries escape ``package/``, links, absolute paths, a gzip bomb, broken archives,
tarballs that do not match their declared integrity or name another package, malformed JSON, an
oversized body; plus the checks npm itself would do first (republishing a version), sent raw.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import tarfile
import zlib
from pathlib import Path

import pytest

from test.registry.conftest import npm_package_admin
from test.support.npm_cli import NpmClient, make_package
from test.support.npm_documents import NpmHttp, package_json, package_tarball, publish_document, tarball
from test.support.registry_server import RegistryServer

NAME = "@bad/input"


@pytest.fixture(scope="module")
def npm(registry: RegistryServer) -> NpmHttp:
    return npm_package_admin(registry, f"npmbad{os.getpid() % 10**6}", NAME)


def _stored_blobs(server: RegistryServer) -> set[Path]:
    return {path for path in (server.data / "blobs").rglob("*") if path.is_file()}


def _gzip_bomb(unpacked: int) -> bytes:
    """A valid .tgz holding one file of ``unpacked`` zero bytes, built without holding it in memory."""
    info = tarfile.TarInfo("package/zeros.bin")
    info.size = unpacked
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    parts = [compressor.compress(info.tobuf(format=tarfile.PAX_FORMAT))]
    zeros = bytes(1024 * 1024)
    for _ in range(unpacked // len(zeros)):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.flush())
    return b"".join(parts)


BAD_TARBALLS = {
    "entry escapes package/ with ..": (
        tarball([("package/package.json", package_json(NAME, "1.0.0")), ("package/../evil.js", b"x")]),
        "escapes the package directory"),
    "absolute path": (
        tarball([("package/package.json", package_json(NAME, "1.0.0")), ("/etc/evil", b"x")]),
        "absolute"),
    "entry outside package/": (
        tarball([("package/package.json", package_json(NAME, "1.0.0")), ("other/file.js", b"x")]),
        "outside package/"),
    "symlink": (
        tarball([("package/package.json", package_json(NAME, "1.0.0"))],
                [("package/link", "/etc/passwd", tarfile.SYMTYPE)]),
        "link or special file"),
    "hard link": (
        tarball([("package/package.json", package_json(NAME, "1.0.0"))],
                [("package/hard", "package/package.json", tarfile.LNKTYPE)]),
        "link or special file"),
    "not gzip": (b"PK\x03\x04 this is a zip, not a tgz", "not gzip-compressed"),
    "truncated gzip": (package_tarball(NAME, "1.0.0")[:60], "not a valid gzip'd tar"),
    "gzip of garbage": (gzip.compress(os.urandom(3000)), "not a valid gzip'd tar"),
    "no package.json": (tarball([("package/index.js", b"x")]), "no package/package.json"),
    "package.json is not JSON": (tarball([("package/package.json", b"{nope")]), "not valid JSON"),
    "package.json names another package": (package_tarball("@bad/other", "1.0.0"), "@bad/other@1.0.0"),
    "package.json names another version": (package_tarball(NAME, "9.9.9"), f"{NAME}@9.9.9"),
}


@pytest.mark.parametrize("case", list(BAD_TARBALLS))
def test_bad_tarballs_are_refused(npm: NpmHttp, registry: RegistryServer, case: str) -> None:
    data, reason = BAD_TARBALLS[case]
    before = _stored_blobs(registry)
    response = npm.publish(NAME, publish_document(NAME, "1.0.0", data))
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    assert _stored_blobs(registry) == before
    assert npm.packument(NAME).status_code == 404  # nothing was published


def test_gzip_bomb_is_refused(npm: NpmHttp, registry: RegistryServer) -> None:
    before = _stored_blobs(registry)
    response = npm.publish(NAME, publish_document(NAME, "1.0.0", _gzip_bomb(520 * 1024 * 1024)))
    assert response.status_code == 400
    assert "unpacks to more than" in response.json()["error"]
    assert _stored_blobs(registry) == before


def _with_version(mutate) -> dict:
    document = publish_document(NAME, "1.0.0")
    mutate(document, document["versions"]["1.0.0"], document["_attachments"][f"{NAME}-1.0.0.tgz"])
    return document


BAD_PUBLISHES = {
    "integrity mismatch": (lambda d, v, a: v["dist"].update(integrity="sha512-" + "A" * 86 + "=="), "integrity"),
    "shasum mismatch": (lambda d, v, a: v["dist"].update(shasum="0" * 40, integrity=None), "shasum"),
    "no checksum at all": (lambda d, v, a: v.update(dist={}), "neither dist.integrity nor dist.shasum"),
    "attachment is not base64": (lambda d, v, a: a.update(data="***"), "not valid base64"),
    "attachment length lies": (lambda d, v, a: a.update(length=5), "length"),
    "two versions": (lambda d, v, a: d["versions"].update({"2.0.0": v}), "exactly one version"),
    "no attachment data": (lambda d, v, a: a.pop("data"), "no base64 data"),
    "version is not semver": (lambda d, v, a: d.update(versions={"1.0": {**v, "version": "1.0"}}), "invalid version"),
    "manifest names another package": (lambda d, v, a: v.update(name="other"), "must say name"),
    "document names another package": (lambda d, v, a: d.update(name="other", _id="other"), "another package"),
    "tag points elsewhere": (lambda d, v, a: d.update({"dist-tags": {"latest": "2.0.0"}}), "dist-tags"),
    "tag is a version": (lambda d, v, a: d.update({"dist-tags": {"1.0.0": "1.0.0"}}), "dist-tags"),
}


@pytest.mark.parametrize("case", list(BAD_PUBLISHES))
def test_bad_publish_documents_are_refused(npm: NpmHttp, registry: RegistryServer, case: str) -> None:
    mutate, reason = BAD_PUBLISHES[case]
    before = _stored_blobs(registry)
    response = npm.publish(NAME, _with_version(mutate))
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    assert _stored_blobs(registry) == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"a string"', b"\xff\xfe", b"[" * 100000])
def test_malformed_json_is_refused(npm: NpmHttp, body: bytes) -> None:
    response = npm.request("PUT", NpmHttp.escaped(NAME), data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "error" in response.json()


def test_oversized_body_is_refused_before_it_is_read(npm: NpmHttp, registry: RegistryServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=30)
    try:
        conn.putrequest("PUT", f"/npm/{npm.registry.rsplit('/', 1)[1]}/@bad%2finput")
        conn.putheader("Authorization", npm.session.headers["Authorization"])
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(10 * 1024**3))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert "larger than" in json.loads(response.read())["error"]
    finally:
        conn.close()


def test_republishing_a_version_is_refused_by_the_server(npm: NpmHttp) -> None:
    name = NAME
    assert npm.publish(name, publish_document(name, "3.0.0")).status_code == 201
    again = npm.publish(name, publish_document(name, "3.0.0", package_tarball(name, "3.0.0", b"changed")))
    assert again.status_code == 403
    assert "cannot publish over the previously published versions: 3.0.0" in again.json()["error"]
    assert npm.tarball(name, "3.0.0").content == package_tarball(name, "3.0.0")


def test_changes_without_a_tarball_and_bad_tags_are_refused(npm: NpmHttp) -> None:
    escaped = NpmHttp.escaped(NAME)
    if npm.packument(NAME).status_code == 404:
        assert npm.publish(NAME, publish_document(NAME, "3.0.0")).status_code == 201
    document = npm.request("GET", f"{escaped}?write=true").json()
    document["versions"]["4.0.0"] = {**document["versions"]["3.0.0"], "version": "4.0.0"}
    sneaky = npm.request("PUT", escaped, json=document)
    assert sneaky.status_code == 400 and "npm publish" in sneaky.json()["error"]
    assert npm.request("PUT", f"-/package/{escaped}/dist-tags/next", json="7.7.7").status_code == 404
    assert npm.request("PUT", f"-/package/{escaped}/dist-tags/1.2.3", json="3.0.0").status_code == 400
    assert npm.request("PUT", f"-/package/{escaped}/dist-tags/next", data=b"{").status_code == 400
    assert npm.request("DELETE", f"-/package/{escaped}/dist-tags/latest").status_code == 400
    stale = dict(document, _rev="1-0000")
    del stale["versions"]["4.0.0"]
    assert npm.request("PUT", escaped, json=stale).status_code == 409


@pytest.mark.parametrize("path", ["UPPER", "@scope", "@/x", "a/b/c/d/e", "%2e%2e", "-/package/UPPER/dist-tags",
                                  "@bad%2finput/-/..%2f..%2fetc.tgz", "@bad%2finput/-/input-1.0.tgz"])
def test_bad_paths_get_npm_errors(npm: NpmHttp, path: str) -> None:
    response = npm.request("GET", path)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_npm_cli_shows_how_to_create_an_unknown_package(npm: NpmHttp, tmp_path: Path) -> None:
    token = npm.session.headers["Authorization"].split(" ", 1)[1]
    client = NpmClient.with_token(tmp_path / "npm", npm.registry + "/", token)
    source = make_package(tmp_path / "src", "@bad/unknown-package", "1.0.0")
    result = client.run("publish", cwd=source, check=False)
    assert not result.ok and "404" in result.stderr
    assert "packages-registry package create" in result.stderr
    assert token not in result.stderr
