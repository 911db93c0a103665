"""npm hardening: the publish body in bounded memory and off the event loop, wrong-typed input as 4xx,
the version document from the tarball (no manifest confusion), web login with separate secrets and a
cap per client, and changes refused when a browser was made to send them from another site.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import tarfile
import threading
import zlib
from pathlib import Path

import pytest
import requests

from registry.npm.login import MAX_WAITING_PER_CLIENT
from test.registry.conftest import npm_package_admin
from test.support.npm_cli import NpmClient, make_package
from test.support.npm_documents import NpmHttp, package_json, publish_document, tarball
from test.support.registry_server import RegistryServer, start_registry
from test.support.stall import assert_no_stall

NAME = "@hard/pkg"


@pytest.fixture(scope="module")
def npm(registry: RegistryServer) -> NpmHttp:
    return npm_package_admin(registry, f"npmhard{os.getpid() % 10**6}", NAME)


def _token(npm: NpmHttp) -> str:
    return npm.session.headers["Authorization"].split(" ", 1)[1]


def _stored_files(server: RegistryServer) -> set[Path]:
    return {path for path in (server.data / "blobs").rglob("*") if path.is_file()}


# --- wrong-typed input ---

@pytest.mark.parametrize("data", [5, True, None, ["AAAA"], {"a": "b"}])
def test_attachment_data_of_the_wrong_type_is_a_400(npm: NpmHttp, registry: RegistryServer, data: object) -> None:
    document = publish_document(NAME, "1.0.0")
    document["_attachments"][f"{NAME}-1.0.0.tgz"]["data"] = data
    before = _stored_files(registry)
    response = npm.publish(NAME, document)
    assert response.status_code == 400, response.text
    assert "no base64 data" in response.json()["error"]
    assert _stored_files(registry) == before
    assert npm.packument(NAME).status_code == 404


@pytest.mark.parametrize("body, reason", [
    (b'{"name": "@hard/pkg", "_attachments": {"pkg-1.0.0.tgz": {"data": "AAAA', "ended inside a JSON string"),
    (b'{"versions": {}, "_attachments": {"a": {"data": "QUFB"}, "b": {"data": "QUFB"}}}', "exactly one"),
    (b'{"_attachments": {"pkg-1.0.0.tgz": {"data": "QU\\nFB"}}}', "not valid base64"),
    (b"[" * 65 + b"]" * 65, "nested more than"),
])
def test_broken_publish_bodies_are_400(npm: NpmHttp, body: bytes, reason: str) -> None:
    response = npm.request("PUT", NpmHttp.escaped(NAME), data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


def test_escaped_slashes_in_the_base64_are_read(npm: NpmHttp) -> None:
    """JSON may write "/" as "\\/": the tarball still decodes to the same bytes."""
    document = publish_document(NAME, "0.0.1")
    body = json.dumps(document).replace("/", "\\/").encode()
    response = npm.request("PUT", NpmHttp.escaped(NAME), data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    sent = base64.b64decode(document["_attachments"][f"{NAME}-0.0.1.tgz"]["data"])
    assert npm.tarball(NAME, "0.0.1").content == sent


def test_pipeline_dist_tag_changes_on_an_unknown_package_are_404_with_auto_create(tmp_path: Path) -> None:
    server = start_registry(tmp_path / "auto", "--auto-create")
    try:
        server.ensure_repository("autotag/code")
        _, token = server.pipeline_token("autotag/code")
        pipeline = NpmHttp(server.url, "autotag", NpmHttp.bearer(token))
        for method, kwargs in (("PUT", {"json": "1.0.0"}), ("DELETE", {})):
            response = pipeline.request(method, "-/package/never-published/dist-tags/beta", **kwargs)
            assert response.status_code == 404, response.text
            assert "never-published not found" in response.json()["error"]
        assert pipeline.packument("never-published").status_code == 404  # nothing was created
        assert "Traceback" not in server.log_path.read_text()
    finally:
        server.stop()


# --- the version document comes from the tarball ---

def _tarball_with(name: str, version: str, extra_files: list[tuple[str, bytes]] = (), **package: object) -> bytes:
    return tarball([("package/package.json", package_json(name, version, **package)),
                    ("package/index.js", b"module.exports = 1;\n"), *extra_files])


def test_install_fields_come_from_the_tarball_not_the_document(npm: NpmHttp) -> None:
    """Manifest confusion: the document hides the tarball's dependency and install script, and
    advertises a dependency the tarball does not have."""
    data = _tarball_with(NAME, "2.0.0", dependencies={"hidden-dep": "^1.0.0"},
                         scripts={"postinstall": "node steal.js", "test": "true"}, bin="./cli.js")
    document = publish_document(NAME, "2.0.0", data, manifest_extra={
        "dependencies": {"decoy": "1.0.0"}, "scripts": {"test": "true"}, "hasInstallScript": False,
        "description": "from the document", "bin": {"other": "./evil.js"}})
    assert npm.publish(NAME, document).status_code == 201
    for abbreviated in (False, True):
        version = npm.packument(NAME, abbreviated).json()["versions"]["2.0.0"]
        assert version["dependencies"] == {"hidden-dep": "^1.0.0"}
        assert version["hasInstallScript"] is True
        assert version["bin"] == {"pkg": "cli.js"}  # npm's normal form of the tarball's "bin"
    full = npm.packument(NAME).json()["versions"]["2.0.0"]
    assert full["scripts"] == {"postinstall": "node steal.js", "test": "true"}
    assert full["description"] == "from the document"  # descriptive fields the tarball lacks are kept


def test_binding_gyp_means_an_install_script(npm: NpmHttp) -> None:
    data = _tarball_with(NAME, "3.0.0", [("package/binding.gyp", b"{'targets': []}")])
    assert npm.publish(NAME, publish_document(NAME, "3.0.0", data)).status_code == 201
    version = npm.packument(NAME).json()["versions"]["3.0.0"]
    assert version["hasInstallScript"] is True and version["scripts"]["install"] == "node-gyp rebuild"
    plain = _tarball_with(NAME, "3.0.1", scripts={"test": "true"})
    assert npm.publish(NAME, publish_document(NAME, "3.0.1", plain, manifest_extra={
        "hasInstallScript": True, "scripts": {"install": "x"}})).status_code == 201
    assert "hasInstallScript" not in npm.packument(NAME, abbreviated=True).json()["versions"]["3.0.1"]


def test_npm_cli_publish_of_a_native_package_has_install_script(npm: NpmHttp, tmp_path: Path) -> None:
    client = NpmClient.with_token(tmp_path / "npm", npm.registry + "/", _token(npm))
    source = make_package(tmp_path / "src", NAME, "4.0.0", dependencies={"left-pad": "^1.3.0"})
    (source / "binding.gyp").write_text("{'targets': []}\n")
    client.run("publish", cwd=source)
    version = npm.packument(NAME, abbreviated=True).json()["versions"]["4.0.0"]
    assert version["hasInstallScript"] is True and version["dependencies"] == {"left-pad": "^1.3.0"}
    shown = client.run("view", f"{NAME}@4.0.0", "scripts.install", "--json").json()
    assert shown == "node-gyp rebuild"


# --- the publish body: off the loop, cheap refusals first, bounded memory ---

def _gzip_bomb(name: str, version: str, unpacked: int) -> bytes:
    """A valid .tgz (package.json first) that inflates to ``unpacked`` bytes of zeros: about 1/1000."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    manifest = package_json(name, version)
    info = tarfile.TarInfo("package/package.json")
    info.size = len(manifest)
    parts = [compressor.compress(info.tobuf(format=tarfile.PAX_FORMAT) + manifest + bytes(-len(manifest) % 512))]
    info = tarfile.TarInfo("package/zeros.bin")
    info.size = unpacked
    parts.append(compressor.compress(info.tobuf(format=tarfile.PAX_FORMAT)))
    zeros = bytes(1024 * 1024)
    for _ in range(unpacked // len(zeros)):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.flush())
    return b"".join(parts)


def test_gzip_bombs_do_not_stall_other_users(npm: NpmHttp, registry: RegistryServer) -> None:
    """Six ~190 KB tarballs that inflate to 190 MiB each, at once (each about 0.5 s of inflating on the
    event loop before, back to back): another user's GET /v2/ stays quick. The two for an existing
    version are refused before anything is inflated; the others are checked in worker threads."""
    assert npm.publish(NAME, publish_document(NAME, "5.0.0")).status_code == 201
    versions = ["6.0.0", "6.0.1", "6.0.2", "6.0.3", "5.0.0", "5.0.0"]
    documents = [publish_document(NAME, v, _gzip_bomb(NAME, v, 190 * 1024 * 1024)) for v in versions]
    assert all(len(json.dumps(d)) < 256 * 1024 for d in documents)  # small bodies: parsed inline before
    probe = ("dev@" + npm.workspace + ".example.com", _token(npm))

    def publish_all() -> list[requests.Response]:
        results: list[requests.Response] = []
        threads = [threading.Thread(target=lambda d=d: results.append(npm.publish(NAME, d))) for d in documents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    results = assert_no_stall(registry.url, probe, publish_all, what="six gzip-bomb publishes")
    assert sorted(r.status_code for r in results) == [201, 201, 201, 201, 403, 403], [r.text for r in results]
    assert all("error" in r.json() for r in results if r.status_code == 403)
    assert {"6.0.0", "6.0.3"} <= npm.packument(NAME).json()["versions"].keys()


def test_dense_documents_do_not_stall_other_users(npm: NpmHttp, registry: RegistryServer) -> None:
    """A publish document padded with 900,000 tiny values is parsed in small pieces in a worker thread
    (one long parse would hold the interpreter, and so the event loop, for its whole length); past a
    million values it is refused."""
    document = publish_document(NAME, "7.0.0")
    probe = ("dev@" + npm.workspace + ".example.com", _token(npm))
    dense = assert_no_stall(registry.url, probe, lambda: npm.publish(NAME, {**document, "padding": [1] * 900_000}),
                            what="a dense publish document")
    assert dense.status_code == 201, dense.text
    document = publish_document(NAME, "7.0.1")
    refused = npm.publish(NAME, {**document, "padding": [1] * 1_100_000})
    assert refused.status_code == 413 and "values" in refused.json()["error"]


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def _big_tarball(name: str, version: str, size: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
        for path, content in (("package/package.json", package_json(name, version)),
                              ("package/blob.bin", os.urandom(size))):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def test_concurrent_big_publishes_keep_memory_bounded(tmp_path: Path) -> None:
    """Four 30 MB publishes at once (160 MB of JSON): the server's peak memory grows by far less than
    one body, because the document is parsed as it arrives and the tarball decoded straight to disk."""
    server = start_registry(tmp_path / "memory")
    try:
        npm = npm_package_admin(server, "memory", "big")
        assert npm.publish("big", publish_document("big", "0.0.1")).status_code == 201  # warm
        bodies = {version: json.dumps(publish_document("big", version, _big_tarball("big", version, 30_000_000))
                                      ).encode() for version in ("1.0.0", "1.0.1", "1.0.2", "1.0.3")}
        pid = server.process.pid
        before = _rss(pid, "VmRSS")
        statuses: list[int] = []

        def put(body: bytes) -> None:
            session = requests.Session()
            session.headers.update(npm.session.headers)
            response = session.put(npm.url("big"), data=body, headers={"Content-Type": "application/json"},
                                   timeout=300)
            statuses.append(response.status_code)

        threads = [threading.Thread(target=put, args=(body,)) for body in bodies.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        growth = _rss(pid, "VmHWM") - before
        assert statuses == [201] * 4
        total = sum(map(len, bodies.values()))
        assert growth < 64 * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.0f} MiB for {total / 2**20:.0f} MiB"
        for version, body in bodies.items():
            data = base64.b64decode(json.loads(body)["_attachments"][f"big-{version}.tgz"]["data"])
            assert hashlib.sha256(npm.tarball("big", version).content).digest() == hashlib.sha256(data).digest()
    finally:
        server.stop()


def test_big_documents_are_parsed_one_at_a_time(tmp_path: Path) -> None:
    """Four 8 MiB packuments PUT back at once (as `npm deprecate` does, padded with 600,000 strings):
    each is several times its size as Python objects, so they take turns; the peak grows by about
    one of them (about 180 MiB when all four were held at once)."""
    server = start_registry(tmp_path / "documents")
    try:
        npm = npm_package_admin(server, "documents", "doc")
        assert npm.publish("doc", publish_document("doc", "1.0.0")).status_code == 201
        document = npm.request("GET", "doc?write=true").json()
        body = json.dumps({**document, "padding": ["aaaaaaaaaa"] * 600_000}).encode()
        pid = server.process.pid
        before = _rss(pid, "VmRSS")
        statuses: list[int] = []

        def put() -> None:
            statuses.append(requests.put(npm.url(f"doc/-rev/{document['_rev']}"), data=body, timeout=120,
                                         headers={**npm.session.headers, "Content-Type": "application/json"}
                                         ).status_code)

        threads = [threading.Thread(target=put) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        growth = _rss(pid, "VmHWM") - before
        assert sorted(statuses) == [200, 409, 409, 409]  # one wins, the others' _rev is stale by then
        assert growth < 120 * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.0f} MiB"
    finally:
        server.stop()


# --- web login ---

def test_web_login_secrets_and_caps(npm: NpmHttp, registry: RegistryServer) -> None:
    log_start = registry.log_path.stat().st_size
    opened = requests.post(npm.url("-/v1/login"), json={}, timeout=30).json()
    login_secret = opened["loginUrl"].rsplit("/", 1)[1]
    done_secret = opened["doneUrl"].rsplit("/", 1)[1]
    assert login_secret != done_secret
    # Whoever sees the login URL cannot collect with it, before or after the user logs in.
    guessed_done = npm.url(f"-/v1/login/done/{login_secret}")
    assert requests.get(guessed_done, timeout=30).status_code == 404
    assert requests.get(opened["loginUrl"], timeout=30).status_code == 200
    assert requests.get(npm.url(f"-/v1/login/session/{done_secret}"), timeout=30).status_code == 404
    # A non-UTF-8 form and another site's form are refused with a page, not a 500.
    bad = requests.post(opened["loginUrl"], data=b"username=\xff\xfe&token=\xff",
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert bad.status_code == 400 and "UTF-8" in bad.text
    email = "dev@" + npm.workspace + ".example.com"
    forged = requests.post(opened["loginUrl"], data={"username": email, "token": _token(npm)},
                           headers={"Origin": "http://evil.example"}, timeout=30)
    assert forged.status_code == 403
    done = requests.post(opened["loginUrl"], data={"username": email, "token": _token(npm)}, timeout=30)
    assert done.status_code == 200 and "logged in" in done.text
    stolen = requests.get(guessed_done, timeout=30)
    assert stolen.status_code == 404 and _token(npm) not in stolen.text
    collected = requests.get(opened["doneUrl"], timeout=30)
    assert collected.status_code == 200 and collected.json()["token"] == _token(npm)
    assert "Traceback" not in registry.log_path.read_bytes()[log_start:].decode(errors="replace")


def _open_logins(server: RegistryServer, workspace: str, count: int, address: str) -> list[int]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10, source_address=(address, 0))
    statuses = []
    try:
        for _ in range(count):
            connection.request("POST", f"/npm/{workspace}/-/v1/login", body=b"{}",
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()
    return statuses


def test_web_login_cap_is_per_client_and_workspace(tmp_path: Path) -> None:
    server = start_registry(tmp_path / "logins")
    try:
        for workspace in ("floodone", "floodtwo"):
            server.ensure_workspace(workspace)
        flood = _open_logins(server, "floodone", MAX_WAITING_PER_CLIENT + 3, "127.0.0.1")
        assert flood == [200] * MAX_WAITING_PER_CLIENT + [429] * 3
        assert _open_logins(server, "floodone", 1, "127.0.0.2") == [200]  # another client
        assert _open_logins(server, "floodtwo", 1, "127.0.0.1") == [200]  # another workspace
        assert _open_logins(server, "no-such-workspace", 1, "127.0.0.1") == [404]
    finally:
        server.stop()


# --- requests a browser could be made to send from another site ---

def test_changes_forged_through_a_browser_are_refused(npm: NpmHttp, registry: RegistryServer) -> None:
    if npm.packument(NAME).status_code == 404 or "5.0.0" not in npm.packument(NAME).json()["versions"]:
        assert npm.publish(NAME, publish_document(NAME, "5.0.0")).status_code == 201
    tag_url = npm.url(f"-/package/{NpmHttp.escaped(NAME)}/dist-tags/forged")
    basic = NpmHttp.basic("dev@" + npm.workspace + ".example.com", _token(npm))
    # What a page of another site can send without asking (a "simple" request) with cached Basic:
    plain = requests.post(tag_url, data=b'"5.0.0"', headers={"Authorization": basic, "Content-Type": "text/plain"},
                          timeout=30)
    assert plain.status_code == 415 and "JSON" in plain.json()["error"]
    # A POST never takes Basic (npm PUTs; a browser can only add the Basic credentials it cached).
    json_basic = requests.post(tag_url, json="5.0.0", headers={"Authorization": basic}, timeout=30)
    assert json_basic.status_code == 401 and "Basic" not in json_basic.headers.get("WWW-Authenticate", "")
    for headers in ({"Origin": "http://127.0.0.1:1"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}):
        forged = npm.request("PUT", f"-/package/{NpmHttp.escaped(NAME)}/dist-tags/forged", json="5.0.0",
                             headers=headers)
        assert forged.status_code == 403, forged.text
    assert "forged" not in npm.request("GET", f"-/package/{NpmHttp.escaped(NAME)}/dist-tags").json()
    # npm's own requests, and a bearer POST, still work.
    assert requests.post(tag_url, json="5.0.0", headers={"Authorization": f"Bearer {_token(npm)}"},
                         timeout=30).status_code == 201
    same_origin = npm.request("PUT", f"-/package/{NpmHttp.escaped(NAME)}/dist-tags/beta", json="5.0.0",
                              headers={"Origin": registry.url})
    assert same_origin.status_code == 201
