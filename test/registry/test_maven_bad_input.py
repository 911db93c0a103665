"""Hostile and mistaken Maven requests: non-canonical paths, wrong checksums, unsafe or foreign
maven-metadata.xml, release re-deploys. Each gets its 4xx and leaves nothing stored; and the
metadata the server serves stays its own, however clients race."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from test.registry.conftest import admin
from test.support.maven_http import MavenHttp, artifact_path
from test.support.oci_client import raw_request
from test.support.registry_server import READ, WRITE, RegistryServer, start_registry

GROUP = "com.example.bad"
JAR = b"PK\x05\x06" + b"\0" * 18


@dataclass
class BadWorld:
    server: RegistryServer
    http: MavenHttp  # a writer's

    def file_rows(self) -> int:
        with sqlite3.connect(self.server.data / "metadata.db") as conn:
            return conn.execute("SELECT COUNT(*) FROM maven_files").fetchone()[0]

    def blob_rows(self) -> int:
        with sqlite3.connect(self.server.data / "metadata.db") as conn:
            return conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]

    def raw(self, method: str, path: str, body: bytes | None = None) -> int:
        auth = self.http.auth
        assert auth is not None
        header = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        status, _, _ = raw_request("127.0.0.1", self.server.port, method, path, {"Authorization": header}, body)
        return status


def _world(server: RegistryServer, artifacts: tuple[str, ...]) -> BadWorld:
    workspace = f"mb{uuid.uuid4().hex[:8]}"
    admin(server, "workspace", "create", workspace)
    admin(server, "repository", "create", f"{workspace}/code")
    for artifact in artifacts:
        admin(server, "package", "create", f"{workspace}/{GROUP}:{artifact}", "--type", "maven",
              "--repository", f"{workspace}/code")
    email = f"dev@{workspace}.example.com"
    admin(server, "user", "create", email)
    admin(server, "grant", email, f"{workspace}/code", "write")
    token = admin(server, "token", "create", email, "--scope", READ, "--scope", WRITE)
    return BadWorld(server, MavenHttp(server.url, workspace, (email, token)))


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(Path(tmp_path_factory.mktemp("maven-bad")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bw(own_server: RegistryServer) -> BadWorld:
    return _world(own_server, ("lib", "race"))


BAD_PATHS = [
    "/maven/{ws}/../../metadata.db",
    "/maven/{ws}/com/example/bad/lib/1.0/../../../../../metadata.db",
    "/maven/{ws}/com/example/bad/lib/1.0/..%2f..%2fsigning.key",
    "/maven/{ws}/com/example/bad/lib/1.0/%2e%2e/lib-1.0.jar",
    "/maven/{ws}/com/example/bad/lib/./1.0/lib-1.0.jar",
    "/maven/{ws}/com/example//bad/lib/1.0/lib-1.0.jar",
    "/maven/{ws}/com/example/bad/lib/1.0/lib-1.0.jar/",
    "/maven/{ws}/com/example/bad/lib/1.0/lib-1.0.jar%00",
    "/maven/{ws}/com/example/bad/lib/1.0/lib%5c1.0.jar",
    "/maven/{ws}/com/example%2fbad/lib/1.0/lib-1.0.jar",
    "/maven/{ws}/com/example.bad/lib/1.0/lib-1.0.jar",
    "/maven/{ws}/com/example/bad/lib/1.0/other-1.0.jar",
    "/maven/{ws}/com/example/bad/lib/1.0/lib-2.0.jar",
    "/maven/{ws}/com/example/bad/lib/1.0/lib-1.0.1.jar",
    "/maven/{ws}/com/example/bad/lib/1.0/lib-1.0",
    "/maven/{ws}/com/example/bad/lib/1.0-SNAPSHOT/lib-1.0-2026.1-1.jar",
    "/maven/{ws}/lib/1.0/lib-1.0.jar",
    "/maven/{ws}/com/example/bad/lib/1.0/lib-1.0.jar%ff",
]


@pytest.mark.parametrize("template", BAD_PATHS)
def test_non_canonical_paths_are_refused(bw: BadWorld, template: str) -> None:
    path = template.format(ws=bw.http.workspace)
    files, blobs = bw.file_rows(), bw.blob_rows()
    assert bw.raw("PUT", path, JAR) == 400
    assert bw.raw("GET", path) == 400
    assert (bw.file_rows(), bw.blob_rows()) == (files, blobs)


def test_checksums_are_checked_and_served(bw: BadWorld) -> None:
    path = artifact_path(GROUP, "lib", "1.1")
    assert bw.http.put(path + ".sha1", hashlib.sha1(JAR).hexdigest().encode()).status_code == 409  # before file
    assert bw.http.put(path, JAR).status_code == 201
    wrong = bw.http.put(path + ".sha1", b"0" * 40)
    assert wrong.status_code == 400 and "does not match" in wrong.text
    for garbage in (b"", b"xyz", b"0" * 39, "é".encode() * 20, b"0" * 5000):
        assert bw.http.put(path + ".md5", garbage).status_code == 400
    assert bw.http.put(path + ".sha1", f"{hashlib.sha1(JAR).hexdigest()}  lib-1.1.jar\n".encode()).status_code == 201
    for algorithm in ("md5", "sha1", "sha256", "sha512"):
        assert bw.http.get(f"{path}.{algorithm}").text == hashlib.new(algorithm, JAR).hexdigest()
    assert bw.http.get(artifact_path(GROUP, "lib", "1.1", ".pom.sha1")).status_code == 404


def test_a_body_that_does_not_match_its_checksum_header_is_not_recorded(bw: BadWorld) -> None:
    path = artifact_path(GROUP, "lib", "1.2")
    response = bw.http.put(path, JAR, headers={"X-Checksum-Sha1": "0" * 40})
    assert response.status_code == 400
    assert bw.http.get(path).status_code == 404
    assert bw.http.put(path, JAR, headers={"X-Checksum-Sha1": hashlib.sha1(JAR).hexdigest()}).status_code == 201


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<metadata><groupId>&lol2;</groupId></metadata>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><metadata><groupId>&xxe;</groupId></metadata>"""


# The same document in UTF-16: the old hand-made DTD filter looked for ASCII bytes and let it through.
UTF16_ENTITIES = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE m [<!ENTITY lib "lib">]>'
                  "<metadata><groupId>com.example.bad</groupId><artifactId>&lib;</artifactId></metadata>"
                  ).encode("utf-16")


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    UTF16_ENTITIES,
    UTF16_ENTITIES.decode("utf-16").replace("UTF-16", "UTF-16BE").encode("utf-16-be"),
    b"<!doctype metadata><metadata/>",
    b"<metadata><groupId>com.example.bad</groupId>",
    b"not xml at all",
    b"<project/>",
    b"<metadata><groupId>org.other</groupId><artifactId>lib</artifactId></metadata>",
    b"<metadata><groupId>com.example.bad</groupId><artifactId>other</artifactId></metadata>",
])
def test_unsafe_or_foreign_metadata_is_refused(bw: BadWorld, body: bytes) -> None:
    response = bw.http.put(f"{GROUP.replace('.', '/')}/lib/maven-metadata.xml", body)
    assert response.status_code == 400, response.text


def test_oversized_metadata_is_413(bw: BadWorld) -> None:
    body = b"<metadata>" + b" " * (2 * 1024 * 1024) + b"</metadata>"
    assert bw.http.put(f"{GROUP.replace('.', '/')}/lib/maven-metadata.xml", body).status_code == 413


def test_uploaded_metadata_is_accepted_but_the_served_one_is_derived(bw: BadWorld) -> None:
    bw.http.deploy(artifact_path(GROUP, "lib", "1.3"), JAR)
    lying = (b"<?xml version='1.0'?><metadata><groupId>com.example.bad</groupId><artifactId>lib</artifactId>"
             b"<versioning><latest>9.9</latest><versions><version>9.9</version></versions></versioning></metadata>")
    metadata = f"{GROUP.replace('.', '/')}/lib/maven-metadata.xml"
    assert bw.http.put(metadata, lying).status_code == 201
    assert bw.http.put(metadata + ".sha1", hashlib.sha1(lying).hexdigest().encode()).status_code == 201
    served = bw.http.get(metadata)
    assert "9.9" not in served.text and "<version>1.3</version>" in served.text
    assert bw.http.get(metadata + ".sha1").text == hashlib.sha1(served.content).hexdigest()


def test_concurrent_deploys_of_different_versions_lose_nothing(bw: BadWorld) -> None:
    metadata = f"{GROUP.replace('.', '/')}/race/maven-metadata.xml"

    def deploy(version: str) -> None:
        bw.http.deploy(artifact_path(GROUP, "race", version, ".pom"), f"<project>{version}</project>".encode())
        bw.http.deploy(artifact_path(GROUP, "race", version), JAR + version.encode())
        # Each client uploads the document as it merged it: its own version only.
        own = (f"<metadata><groupId>{GROUP}</groupId><artifactId>race</artifactId><versioning><versions>"
               f"<version>{version}</version></versions></versioning></metadata>").encode()
        assert bw.http.put(metadata, own).status_code == 201

    versions = [f"1.{i}" for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(deploy, versions))
    served = bw.http.get(metadata).text
    assert all(f"<version>{version}</version>" in served for version in versions)


def test_release_files_are_immutable_but_snapshots_are_not(bw: BadWorld) -> None:
    release = artifact_path(GROUP, "lib", "1.4")
    assert bw.http.put(release, JAR).status_code == 201
    blobs = bw.blob_rows()
    again = bw.http.put(release, JAR + b"changed")
    assert again.status_code == 409 and "immutable" in again.text
    assert bw.http.get(release).content == JAR and bw.blob_rows() == blobs
    # A retried deploy of the same bytes (its first try was cut off before it knew) succeeds, as do its
    # checksums; the large-file path decides the same way.
    assert bw.http.put(release, JAR).status_code in (200, 201)
    assert bw.http.put(release + ".sha1", hashlib.sha1(JAR).hexdigest().encode()).status_code in (200, 201)
    large_release = artifact_path(GROUP, "lib", "1.45")
    large = os.urandom(3 * 1024 * 1024)
    assert bw.http.put(large_release, large).status_code == 201
    assert bw.http.put(large_release, large).status_code in (200, 201)
    assert bw.http.put(large_release, large[:-1] + b"!").status_code == 409
    assert bw.http.get(large_release).content == large
    snapshot = artifact_path(GROUP, "lib", "1.4-SNAPSHOT")
    assert bw.http.put(snapshot, JAR).status_code == 201
    assert bw.http.put(snapshot, JAR + b"new").status_code == 201
    assert bw.http.get(snapshot).content == JAR + b"new"


def test_redeploy_is_allowed_with_the_server_switch(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = start_registry(Path(tmp_path_factory.mktemp("maven-redeploy")), "--allow-redeploy")
    try:
        world = _world(server, ("lib",))
        release = artifact_path(GROUP, "lib", "1.0")
        assert world.http.put(release, JAR).status_code == 201
        assert world.http.put(release, JAR + b"again").status_code == 201
        assert world.http.get(release).content == JAR + b"again"
        assert world.http.get(release + ".sha1").text == hashlib.sha1(JAR + b"again").hexdigest()
    finally:
        server.stop()


def test_methods_heads_ranges_and_unknowns(bw: BadWorld) -> None:
    path = artifact_path(GROUP, "lib", "1.5")
    bw.http.deploy(path, JAR)
    head = bw.http.head(path)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(JAR)) and not head.content
    assert head.headers["X-Checksum-Sha1"] == hashlib.sha1(JAR).hexdigest()
    ranged = bw.http.get(path, headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206 and ranged.content == JAR[:4]
    assert bw.raw("DELETE", f"/maven/{bw.http.workspace}/{path}") == 405
    assert bw.raw("POST", f"/maven/{bw.http.workspace}/{path}", b"x") == 405
    assert bw.http.get(artifact_path(GROUP, "lib", "7.7")).status_code == 404
    assert bw.http.get(f"{GROUP.replace('.', '/')}/lib/7.7-SNAPSHOT/maven-metadata.xml").status_code == 404
    unknown_ws = MavenHttp(bw.server.url, "nosuchworkspace", bw.http.auth)
    assert unknown_ws.get(path).status_code == 404
    assert unknown_ws.put(path, JAR).status_code == 404


def test_garbage_collection_keeps_maven_files(bw: BadWorld) -> None:
    path = artifact_path(GROUP, "lib", "1.6")
    bw.http.deploy(path, JAR + b"gc")
    admin(bw.server, "gc", "--grace-seconds", "0")
    assert bw.http.get(path).content == JAR + b"gc"


def test_large_files_stream_both_ways(bw: BadWorld) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # above the in-memory size: served by sendfile
    path = artifact_path(GROUP, "lib", "1.7")
    bw.http.deploy(path, data)
    served = bw.http.get(path)
    assert served.content == data and served.headers["X-Checksum-Sha1"] == hashlib.sha1(data).hexdigest()
    tail = bw.http.get(path, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]


def test_a_dropped_upload_records_nothing(bw: BadWorld) -> None:
    path = f"/maven/{bw.http.workspace}/" + artifact_path(GROUP, "lib", "1.8")
    auth = bw.http.auth
    assert auth is not None
    header = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    files = bw.file_rows()
    with socket.create_connection(("127.0.0.1", bw.server.port)) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\n"
                     f"Content-Length: {1024 * 1024}\r\n\r\n".encode() + b"x" * 100_000)
    time.sleep(0.5)
    assert bw.file_rows() == files
    assert bw.http.get(artifact_path(GROUP, "lib", "1.8")).status_code == 404
    assert "Traceback" not in bw.server.log_path.read_text()


def test_a_deploy_a_browser_sent_from_another_site_is_refused(bw: BadWorld) -> None:
    """mvn sends neither Origin nor Sec-Fetch-Site; a browser made to PUT by another site's page does
    (test/ui/test_cross_site_forgery.py shows the browser itself never gets that far)."""
    path = artifact_path(GROUP, "lib", "7.7.7-forged")
    files, blobs = bw.file_rows(), bw.blob_rows()
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = bw.http.put(path, JAR, headers=headers)
        assert refused.status_code == 403, refused.text
    assert (bw.file_rows(), bw.blob_rows()) == (files, blobs)
    assert bw.http.put(path, JAR, headers={"Origin": bw.server.url}).status_code == 201
