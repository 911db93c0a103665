"""Plans and quotas, usage and metering, retention policies, immutable tags and the audit log, with real
clients (skopeo, npm, mvn) against a server of their own (its blob files are all theirs to count)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from test.registry.conftest import World, admin, build_world
from test.registry.test_skopeo import skopeo
from test.support import oci_client as oci
from test.support.maven_cli import deploy_file, repository_url, write_settings
from test.support.maven_http import MavenHttp, put_with_expect
from test.support.npm_cli import NpmClient, make_package
from test.support.npm_documents import NpmHttp, package_tarball, publish_document
from test.support.oci_client import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, canonical, descriptor, digest_of
from test.support.oci_layout import tar_of, write_image_layout
from test.support.processes import wait_for
from test.support.pypi_http import upload
from test.support.python_clients import twine_upload
from test.support.python_dists import make_wheel
from test.support.registry_server import RegistryServer, start_registry
from test.ui.conftest import csrf_of


@pytest.fixture(scope="module")
def server(session_dir: Path) -> Iterator[RegistryServer]:
    # Every pull is audited; periodic work is off so that the tests decide when policies run and usage is sampled.
    started = start_registry(session_dir / "policies", "--audit-pulls", "1", "--retention-interval", "0",
                             "--usage-sample-interval", "0")
    yield started
    started.stop()


def blob_files(server: RegistryServer) -> dict[str, int]:
    """Every stored blob file and its size, as the disk has them."""
    root = server.data / "blobs"
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*") if path.is_file()}


def uploads_left(server: RegistryServer) -> list[str]:
    return sorted(path.name for path in (server.data / "uploads").iterdir())


def usage(server: RegistryServer, workspace: str, *args: str) -> dict:
    return json.loads(admin(server, "usage", workspace, "--json", *args))


def audit_log(server: RegistryServer, *args: str) -> list[dict]:
    return json.loads(admin(server, "audit", "--json", *args))


def creds(world: World, role: str) -> str:
    return f"{world.email(role)}:{world.tokens[role]}"


def big_layout(path: Path, size: int) -> None:
    """An OCI layout of one image whose layer is ``size`` random (incompressible) bytes, tagged ``big``."""
    layer = tar_of({"data.bin": os.urandom(size)})
    config = canonical({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                                                                          "diff_ids": [digest_of(layer)]}})
    manifest = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": descriptor(OCI_CONFIG, config), "layers": [descriptor(OCI_LAYER, layer)]})
    write_image_layout(path, manifest, [config, layer], "big")


# --- plans and quotas ---

def test_container_push_over_quota_is_refused_and_leaves_nothing(server: RegistryServer, tmp_path: Path) -> None:
    world = build_world(server, "quotaoci")
    small = oci.image("fits", layers=3)
    small_size = sum(len(blob) for blob in small.blobs.values())
    limit = small_size * 100 // 85  # the small image fits, and takes the workspace over 80 %
    admin(server, "plan", "set", world.workspace, "--storage", str(limit))
    before, usage_before = blob_files(server), usage(server, world.workspace)["bytes"]

    # skopeo: its layer upload is refused with the usage and the limit in the message.
    layout = tmp_path / "layout"
    big_layout(layout, 300_000)
    refused = skopeo(tmp_path, "copy", "--dest-tls-verify=false", "--dest-creds", creds(world, "write"),
                     f"oci:{layout}:big", f"docker://{server.host}/{world.package}:big", check=False)
    assert refused.returncode != 0
    assert "storage quota exceeded" in refused.stderr and f"({limit} bytes) limit" in refused.stderr, \
        refused.stderr[-2000:]

    # A chunked upload: refused as the bytes arrive, and the session is gone.
    client = world.client("write")
    location = client.start_upload(world.package)
    chunk = client.patch(location, data=os.urandom(5000), headers={"Content-Type": "application/octet-stream"})
    assert chunk.status_code == 403 and oci.error_codes(chunk) == ["DENIED"]
    message = chunk.json()["errors"][0]["message"]
    assert f"workspace {world.workspace} uses 0 B (0 bytes) of its" in message and f"({limit} bytes) limit" in message
    assert client.get(location).status_code == 404

    assert blob_files(server) == before and uploads_left(server) == []
    assert usage(server, world.workspace)["bytes"] == usage_before == 0

    # What fits is taken, with a warning once the workspace is over 80 % of its limit.
    pushed = client.push_image(world.package, "small", small)
    assert pushed.status_code == 201
    assert usage(server, world.workspace)["bytes"] == small_size
    assert "of its storage limit" in pushed.headers["X-Packages-Quota-Warning"]
    assert pushed.headers["Warning"].startswith('299 - "workspace ')
    # Now full: even the start of an upload is refused.
    admin(server, "plan", "set", world.workspace, "--storage", str(small_size))
    started = client.post(f"/v2/{world.package}/blobs/uploads/")
    assert started.status_code == 403 and "storage quota exceeded" in started.text
    assert uploads_left(server) == []
    refusals = audit_log(server, "--workspace", world.workspace, "--action", "push")
    assert any(entry["outcome"].startswith("refused: storage quota exceeded") for entry in refusals)


def test_npm_publish_over_quota_is_refused_and_leaves_nothing(server: RegistryServer, tmp_path: Path) -> None:
    world = build_world(server, "quotanpm")
    admin(server, "package", "create", f"{world.workspace}/big-lib", "--type", "npm", "--repository", world.repository)
    admin(server, "plan", "set", world.workspace, "--storage", "10KiB")
    before = blob_files(server)

    source = make_package(tmp_path / "big-lib", "big-lib", "1.0.0",
                          body=base64.b64encode(os.urandom(60_000)).decode())
    npm = NpmClient.with_token(tmp_path / "npm", f"{server.url}/npm/{world.workspace}/", world.tokens["write"])
    published = npm.run("publish", cwd=source, check=False)
    assert not published.ok
    assert "403" in published.stderr and "storage quota exceeded" in published.stderr, published.stderr[-2000:]
    assert "(10240 bytes) limit" in published.stderr

    # A full workspace refuses a large publish by its Content-Length, before reading the body.
    admin(server, "plan", "set", world.workspace, "--storage", "0")
    raw = NpmHttp(server.url, world.workspace, NpmHttp.bearer(world.tokens["write"]))
    answer = raw.publish("big-lib", publish_document("big-lib", "1.0.1", package_tarball("big-lib", "1.0.1",
                                                                                          os.urandom(1_200_000))))
    assert answer.status_code == 403 and "storage quota exceeded" in answer.json()["error"]

    assert blob_files(server) == before and uploads_left(server) == []
    assert usage(server, world.workspace)["bytes"] == 0
    assert raw.packument("big-lib").status_code == 404


def test_maven_deploy_over_quota_is_refused_and_leaves_nothing(server: RegistryServer, tmp_path: Path) -> None:
    world = build_world(server, "quotamvn")
    admin(server, "package", "create", f"{world.workspace}/com.example.quota:big", "--type", "maven",
          "--repository", world.repository)
    admin(server, "plan", "set", world.workspace, "--storage", "300")  # less than a pom
    before = blob_files(server)

    jar = tmp_path / "big.jar"
    jar.write_bytes(os.urandom(50_000))
    settings = write_settings(tmp_path / "m2", world.email("write"), world.tokens["write"])
    run = deploy_file(tmp_path / "deploy", settings, repository_url(server.url, world.workspace), jar,
                      "com.example.quota", "big", "1.0")
    assert run.returncode != 0
    assert "403" in run.output and "storage quota exceeded" in run.output, run.output[-3000:]

    # Refused on its Content-Length at Expect: 100-continue: the body is never asked for.
    auth = "Basic " + base64.b64encode(creds(world, "write").encode()).decode()
    status, _ = put_with_expect("127.0.0.1", server.port, f"/maven/{world.workspace}/com/example/quota/big/1.1/"
                                "big-1.1.jar", {"Authorization": auth}, os.urandom(30_000))
    assert " 403 " in status and "storage quota exceeded" in status
    # Streamed without a length: refused as the bytes pass the limit.
    chunked = requests.put(f"{server.url}/maven/{world.workspace}/com/example/quota/big/1.2/big-1.2.jar",
                           data=iter([os.urandom(8192) for _ in range(8)]), auth=tuple(creds(world, "write").split(":")),
                           timeout=30)
    assert chunked.status_code == 403 and "storage quota exceeded" in chunked.text

    assert blob_files(server) == before and uploads_left(server) == []
    assert usage(server, world.workspace)["bytes"] == 0


def test_pypi_upload_over_quota_is_refused_and_leaves_nothing(server: RegistryServer, tmp_path: Path) -> None:
    world = build_world(server, "quotapy")
    admin(server, "package", "create", f"{world.workspace}/big-dist", "--type", "pypi", "--repository",
          world.repository)
    admin(server, "plan", "set", world.workspace, "--storage", "20KB")
    before = blob_files(server)
    wheel = make_wheel(tmp_path, "big-dist", "1.0", extra_entries={"big_dist/data.bin": os.urandom(60_000)})
    refused = twine_upload(server.url, world.workspace, world.email("write"), world.tokens["write"], [wheel],
                           check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "403" in output and "storage quota exceeded" in output, output[-2000:]
    assert blob_files(server) == before and uploads_left(server) == []
    assert usage(server, world.workspace)["bytes"] == 0
    # What fits goes in, and is audited as a push.
    small = make_wheel(tmp_path, "big-dist", "1.1")
    twine_upload(server.url, world.workspace, world.email("write"), world.tokens["write"], [small])
    assert usage(server, world.workspace)["bytes"] == sum(blob_files(server).values()) - sum(before.values())
    pushes = audit_log(server, "--workspace", world.workspace, "--action", "push")
    assert [e["outcome"].split(":")[0] for e in pushes] == ["ok", "refused"] and pushes[0]["target"] == small.name


def test_pypi_upload_warns_once_its_workspace_has_a_limit(server: RegistryServer, tmp_path: Path) -> None:
    """The warning after a push is skipped when the push itself found its workspace without a limit: that
    knowledge is the push's own, never the next one's (a limit set between two uploads warns the second)."""
    world = build_world(server, "warnpy")
    admin(server, "package", "create", f"{world.workspace}/warned", "--type", "pypi", "--repository",
          world.repository)
    url, auth = f"{server.url}/pypi/{world.workspace}/", (world.email("write"), world.tokens["write"])
    first = upload(url, make_wheel(tmp_path, "warned", "1.0", extra_entries={"warned/data.bin": os.urandom(40_000)}),
                   auth)
    assert first.status_code == 200 and "X-Packages-Quota-Warning" not in first.headers
    used = usage(server, world.workspace)["bytes"]
    admin(server, "plan", "set", world.workspace, "--storage", str(used * 100 // 90))  # 90 % used
    second = upload(url, make_wheel(tmp_path, "warned", "1.1"), auth)
    assert second.status_code == 200, second.text
    assert "of its storage limit" in second.headers["X-Packages-Quota-Warning"]
    admin(server, "plan", "set", world.workspace, "--storage", str(used * 100))  # 1 % used: no warning
    third = upload(url, make_wheel(tmp_path, "warned", "1.2"), auth)
    assert third.status_code == 200 and "X-Packages-Quota-Warning" not in third.headers


# --- usage and metering ---

def test_usage_is_what_the_blob_store_holds(tmp_path: Path) -> None:
    # The server's periodic work: usage sampled every second, policies applied and the audit log pruned (of
    # everything: zero days) every second.
    fresh = start_registry(tmp_path / "usage", "--usage-sample-interval", "1", "--retention-interval", "1",
                           "--audit-days", "0")
    try:
        world = build_world(fresh, "usage")
        other_repository = world.new_repository("other")
        second = world.new_package("second", other_repository)
        admin(fresh, "grant", world.email("admin"), other_repository, "admin")
        client = world.client("admin")
        shared = oci.image("shared", layers=2)
        assert client.push_image(world.package, "v1", shared).status_code == 201
        assert client.push_image(second, "v1", shared).status_code == 201  # the same blobs: stored once
        assert client.push_image(second, "v2", oci.image("own")).status_code == 201
        admin(fresh, "package", "create", f"{world.workspace}/lib", "--type", "npm", "--repository", world.repository)
        npm = NpmHttp(fresh.url, world.workspace, NpmHttp.bearer(world.tokens["admin"]))
        assert npm.publish("lib", publish_document("lib", "1.0.0")).status_code == 201
        admin(fresh, "package", "create", f"{world.workspace}/org.example:core", "--type", "maven",
              "--repository", world.repository)
        MavenHttp(fresh.url, world.workspace, (world.email("admin"), world.tokens["admin"])).deploy(
            "org/example/core/1.0/core-1.0.jar", os.urandom(3000))

        on_disk = blob_files(fresh)
        figures = usage(fresh, world.workspace)
        assert figures["bytes"] == sum(on_disk.values())
        by_repository = usage(fresh, world.workspace, "--by", "repository")["repositories"]
        shared_bytes = sum(len(blob) for blob in shared.blobs.values())
        own_bytes = sum(len(blob) for blob in oci.image("own").blobs.values())
        assert by_repository[other_repository] == shared_bytes + own_bytes
        assert by_repository[world.repository] == figures["bytes"] - own_bytes  # the shared blobs count in both
        by_package = usage(fresh, world.workspace, "--by", "package")["packages"]
        assert by_package[f"container {world.package}"] == shared_bytes
        assert by_package[f"container {second}"] == shared_bytes + own_bytes

        # Another workspace linking the same blobs counts them too; the disk holds them once.
        elsewhere = build_world(fresh, "usage2")
        assert elsewhere.client("admin").push_image(elsewhere.package, "v1", shared).status_code == 201
        assert usage(fresh, elsewhere.workspace)["bytes"] == shared_bytes
        assert blob_files(fresh) == on_disk and usage(fresh, world.workspace) == figures

        # The server samples usage periodically: GB-hours of this month grow.
        month = time.strftime("%Y-%m", time.gmtime())
        wait_for(lambda: usage(fresh, world.workspace, "--month", month)["gb_hours"] > 0, 20, "usage metering")
        admin(fresh, "retention", "set", "--package", second, "--type", "container", "--kind", "tags",
              "--pattern", "v*", "--keep", "1")
        wait_for(lambda: client.get(f"/v2/{second}/tags/list").json()["tags"] == ["v2"], 20, "retention by the server")
        wait_for(lambda: audit_log(fresh) == [], 20, "audit pruning")
    finally:
        fresh.stop()


def test_metering_adds_gb_hours_per_month(server: RegistryServer) -> None:
    world = build_world(server, "meter")
    assert world.client("admin").push_image(world.package, "v1", oci.image("metered", layers=2)).status_code == 201
    stored = usage(server, world.workspace)["bytes"]
    # Two hours held across a month boundary: one in October, one in November.
    admin(server, "usage", "sample", "--at", "2030-10-31T23:00:00Z")
    admin(server, "usage", "sample", "--at", "2030-11-01T01:00:00Z")
    admin(server, "usage", "sample", "--at", "2030-11-01T01:00:00Z")  # the same moment again counts nothing
    october = usage(server, world.workspace, "--month", "2030-10")["gb_hours"]
    november = usage(server, world.workspace, "--month", "2030-11")["gb_hours"]
    assert october == pytest.approx(stored / 1e9) and november == pytest.approx(stored / 1e9)
    assert usage(server, world.workspace, "--month", "2030-12")["gb_hours"] == 0


# --- immutable tags ---

def test_immutable_tags_refuse_overwrite_and_delete(server: RegistryServer, tmp_path: Path) -> None:
    world = build_world(server, "frozen")
    admin(server, "immutable", "add", world.package, "v*")
    assert admin(server, "immutable", "list", world.package) == "v*"
    client = world.client("admin")
    first, second = oci.image("first"), oci.image("second")
    assert client.push_image(world.package, "v1.0", first).status_code == 201
    assert client.push_image(world.package, "v1.0", first).status_code == 201  # the same manifest again: fine

    moved = client.push_image(world.package, "v1.0", second)
    assert moved.status_code == 403 and oci.error_codes(moved) == ["DENIED"]
    assert "tag v1.0 is immutable" in moved.json()["errors"][0]["message"]
    deleted = client.delete(f"/v2/{world.package}/manifests/v1.0")
    assert deleted.status_code == 403 and "cannot be deleted" in deleted.json()["errors"][0]["message"]
    by_digest = client.delete(f"/v2/{world.package}/manifests/{first.digest}")
    assert by_digest.status_code == 403 and "tag v1.0 is immutable" in by_digest.text
    assert client.get(f"/v2/{world.package}/manifests/v1.0", headers={"Accept": oci.ACCEPT}).content == first.manifest

    # skopeo overwriting it is refused too; a tag outside the patterns moves freely.
    layout = tmp_path / "layout"
    big_layout(layout, 1000)
    refused = skopeo(tmp_path, "copy", "--dest-tls-verify=false", "--dest-creds", creds(world, "write"),
                     f"oci:{layout}:big", f"docker://{server.host}/{world.package}:v1.0", check=False)
    assert refused.returncode != 0 and "is immutable" in refused.stderr, refused.stderr[-2000:]
    skopeo(tmp_path, "copy", "--dest-tls-verify=false", "--dest-creds", creds(world, "write"),
           f"oci:{layout}:big", f"docker://{server.host}/{world.package}:latest")
    assert client.push_image(world.package, "latest", second).status_code == 201

    admin(server, "immutable", "remove", world.package, "v*")
    assert client.push_image(world.package, "v1.0", second).status_code == 201


# --- retention policies ---

def test_retention_policies_on_a_realistic_history(server: RegistryServer) -> None:
    world = build_world(server, "retain")
    client = world.client("admin")
    package = world.package

    # 50 tags: pr-1 .. pr-40 (pushed in that order) and v1 .. v10; v2 and pr-2 share a manifest.
    digests: dict[str, str] = {}
    for n in range(1, 41):
        img = oci.image(f"pr {n}") if n != 2 else oci.image("v 2")
        assert client.push_image(package, f"pr-{n}", img).status_code == 201
        digests[f"pr-{n}"] = img.digest
    for n in range(1, 11):
        img = oci.image(f"v {n}")
        assert client.push_image(package, f"v{n}", img).status_code == 201
        digests[f"v{n}"] = img.digest
    # Untagged: two loose manifests; a tagged index's children; a signature of v1.
    loose = [oci.image(f"loose {n}") for n in range(2)]
    for img in loose:
        assert client.push_image(package, img.digest, img).status_code == 201
    children = [oci.image("child amd64"), oci.image("child arm64", arch="arm64")]
    for child in children:
        assert client.push_image(package, child.digest, child).status_code == 201
    assert client.push_manifest(package, "multi", oci.index([(children[0], "amd64"), (children[1], "arm64")]),
                                oci.OCI_INDEX).status_code == 201
    signature = oci.image("signature of v1", artifact_type="application/vnd.example.sig",
                          subject={"mediaType": OCI_MANIFEST, "digest": digests["v1"],
                                   "size": len(oci.image("v 1").manifest)})
    assert client.push_image(package, signature.digest, signature).status_code == 201
    admin(server, "immutable", "add", package, "pr-1")

    # 20 timestamped builds of a SNAPSHOT, and a release beside them.
    group, artifact = "org.example.retain", "core"
    admin(server, "package", "create", f"{world.workspace}/{group}:{artifact}", "--type", "maven",
          "--repository", world.repository)
    maven = MavenHttp(server.url, world.workspace, (world.email("admin"), world.tokens["admin"]))
    base = f"{group.replace('.', '/')}/{artifact}"
    for build in range(1, 21):
        stamp = f"20301130.1200{build:02d}-{build}"
        for suffix in (".jar", ".pom"):
            maven.deploy(f"{base}/1.0-SNAPSHOT/{artifact}-1.0-{stamp}{suffix}", f"build {build}{suffix}".encode())
    maven.deploy(f"{base}/0.9/{artifact}-0.9.jar", b"release")

    # 10 npm pre-releases (an old one still tagged beta) and a release.
    admin(server, "package", "create", f"{world.workspace}/app-lib", "--type", "npm", "--repository",
          world.repository)
    npm = NpmHttp(server.url, world.workspace, NpmHttp.bearer(world.tokens["admin"]))
    assert npm.publish("app-lib", publish_document("app-lib", "1.0.0")).status_code == 201
    for n in range(1, 11):
        document = publish_document("app-lib", f"2.0.0-rc.{n}", tag="next")
        assert npm.publish("app-lib", document).status_code == 201
    assert npm.request("PUT", "-/package/app-lib/dist-tags/beta", json="2.0.0-rc.2").status_code == 201

    admin(server, "retention", "set", "--package", package, "--type", "container", "--kind", "tags",
          "--pattern", "pr-*", "--keep", "5")
    admin(server, "retention", "set", "--repository", world.repository, "--kind", "untagged",
          "--older-than-days", "0")
    admin(server, "retention", "set", "--repository", world.repository, "--kind", "snapshots", "--keep", "3")
    admin(server, "retention", "set", "--package", f"{world.workspace}/app-lib", "--type", "npm",
          "--kind", "prereleases", "--keep", "3")
    assert len(admin(server, "retention", "list", "--workspace", world.workspace).splitlines()) == 4

    expected_tags = {f"pr-{n}" for n in (1, 36, 37, 38, 39, 40)} | {f"v{n}" for n in range(1, 11)} | {"multi"}
    gone_tags = {f"pr-{n}" for n in range(2, 36)}
    # pr-2's manifest is v2's too: it stays. The others of the deleted tags go with them, as do the loose ones.
    gone_manifests = {digests[tag] for tag in gone_tags if tag != "pr-2"} | {img.digest for img in loose}
    kept_manifests = {digests[tag] for tag in expected_tags if tag != "multi"} | {c.digest for c in children} \
        | {signature.digest}
    expected_versions = {"1.0.0", "2.0.0-rc.2", "2.0.0-rc.8", "2.0.0-rc.9", "2.0.0-rc.10"}

    dry = admin(server, "retention", "run", "--dry-run", "--workspace", world.workspace).splitlines()
    planned = [line for line in dry if line.startswith("would delete ")]
    assert {line.rsplit(": tag ", 1)[1] for line in planned if ": tag " in line} == gone_tags
    assert {line.rsplit(": manifest ", 1)[1] for line in planned if ": manifest " in line} == gone_manifests
    assert {line.rsplit(": build ", 1)[1] for line in planned if ": build " in line} == \
        {f"1.0-SNAPSHOT #{n}" for n in range(1, 18)}
    assert {line.rsplit(": version ", 1)[1] for line in planned if ": version " in line} == \
        {f"2.0.0-rc.{n}" for n in (1, 3, 4, 5, 6, 7)}
    assert len(client.get(f"/v2/{package}/tags/list").json()["tags"]) == 51  # nothing deleted yet

    admin(server, "retention", "run", "--workspace", world.workspace)
    assert set(client.get(f"/v2/{package}/tags/list").json()["tags"]) == expected_tags
    for digest in gone_manifests:
        assert client.get(f"/v2/{package}/manifests/{digest}", headers={"Accept": oci.ACCEPT}).status_code == 404
    for digest in kept_manifests:
        assert client.get(f"/v2/{package}/manifests/{digest}", headers={"Accept": oci.ACCEPT}).status_code == 200

    metadata = maven.get(f"{base}/1.0-SNAPSHOT/maven-metadata.xml").text
    assert "<buildNumber>20</buildNumber>" in metadata and "-17<" not in metadata
    for build in range(1, 21):
        stamp = f"20301130.1200{build:02d}-{build}"
        status = maven.get(f"{base}/1.0-SNAPSHOT/{artifact}-1.0-{stamp}.jar").status_code
        assert status == (200 if build > 17 else 404), build
    assert maven.get(f"{base}/0.9/{artifact}-0.9.jar").content == b"release"

    packument = npm.packument("app-lib").json()
    assert set(packument["versions"]) == expected_versions
    assert packument["dist-tags"] == {"latest": "1.0.0", "next": "2.0.0-rc.10", "beta": "2.0.0-rc.2"}

    # Every deletion is in the audit log, by its policy; a second run has nothing left to do.
    deletions = [entry for entry in audit_log(server, "--workspace", world.workspace, "--action", "delete")
                 if entry["detail"].endswith("retention")]
    assert len(deletions) == len(planned) and all(entry["actor"].startswith("retention policy ")
                                                  for entry in deletions)
    assert admin(server, "retention", "run", "--workspace", world.workspace).endswith("0 deletion(s)"
                                                                                    " (run gc to free the storage "
                                                                                    "nothing references any more)")


# --- audit ---

def test_audit_records_every_action_without_secrets(server: RegistryServer, tmp_path: Path) -> None:
    world = build_world(server, "audited")
    username, pipeline_secret = world.pipeline_token(world.repository)
    admin_client = world.client("admin")
    img = oci.image("audited")
    assert admin_client.push_image(world.package, "v1", img).status_code == 201
    assert world.client("read").get(f"/v2/{world.package}/manifests/v1",
                                    headers={"Accept": oci.ACCEPT}).status_code == 200
    assert admin_client.delete(f"/v2/{world.package}/manifests/v1").status_code == 202
    admin(server, "package", "create", f"{world.workspace}/audited-lib", "--type", "npm", "--repository",
          world.repository)
    pipeline_npm = NpmHttp(server.url, world.workspace, NpmHttp.basic(username, pipeline_secret))
    assert pipeline_npm.publish("audited-lib", publish_document("audited-lib", "1.0.0")).status_code == 201
    assert pipeline_npm.tarball("audited-lib", "1.0.0").status_code == 200
    admin(server, "plan", "set", world.workspace, "--storage", "1GiB")
    admin(server, "retention", "set", "--package", world.package, "--type", "container", "--kind", "tags",
          "--pattern", "pr-*", "--keep", "1")
    admin(server, "plan", "set", world.workspace, "--storage", "0")
    assert admin_client.push_blob(world.package, b"one byte too many").status_code == 403

    # Deletion with retention: delete, restore, delete again, purge.
    lib = f"{world.workspace}/audited-lib"
    admin(server, "package", "delete", lib, "--type", "npm")
    admin(server, "package", "restore", lib, "--type", "npm")
    admin(server, "package", "delete", lib, "--type", "npm")
    admin(server, "purge", "--older-than-days", "0")

    text = admin(server, "audit", "--workspace", world.workspace)
    entries = audit_log(server, "--workspace", world.workspace)
    actions = {(entry["action"], entry["outcome"].split(":")[0]) for entry in entries}
    assert {("create", "ok"), ("push", "ok"), ("pull", "ok"), ("delete", "ok"), ("plan", "ok"), ("policy", "ok"),
            ("push", "refused"), ("restore", "ok"), ("purge", "ok")} <= actions
    lifecycle = [(e["action"], e["actor"].split(":")[0]) for e in reversed(audit_log(server, "--package", lib))
                 if e["action"] in ("delete", "restore", "purge")]
    assert lifecycle == [("delete", "cli"), ("restore", "cli"), ("delete", "cli"), ("purge", "cli")]
    token_ids = {line.split("\t")[0] for line in admin(server, "token", "list", world.email("admin")).splitlines()}
    push = next(e for e in entries if e["action"] == "push" and e["package"] == world.package and e["outcome"] == "ok")
    assert push["actor"] == world.email("admin") and push["address"] == "127.0.0.1"
    assert push["credential"].startswith("api token ") and push["credential"].split()[2] in token_ids
    assert push["target"] == f"v1 -> {img.digest}"
    pull = next(e for e in entries if e["action"] == "pull" and e["package"] == world.package)
    assert pull["actor"] == world.email("read")
    npm_push = next(e for e in entries if e["package"] == f"{world.workspace}/audited-lib" and e["action"] == "push")
    assert npm_push["credential"].endswith(f"of repository {world.repository}") and npm_push["target"] == "1.0.0"
    assert npm_push["actor"] == username
    delete = next(e for e in entries if e["action"] == "delete" and e["package"] == world.package)
    assert delete["target"] == "tag v1" and delete["actor"] == world.email("admin")
    assert delete["address"] == "127.0.0.1"

    # Filters, and never a secret.
    assert {e["action"] for e in audit_log(server, "--workspace", world.workspace, "--action", "pull")} == {"pull"}
    assert {e["package"] for e in audit_log(server, "--package", f"{world.workspace}/audited-lib")} == \
        {f"{world.workspace}/audited-lib"}
    assert audit_log(server, "--workspace", world.workspace, "--since", "2999-01-01T00:00:00Z") == []
    assert len(audit_log(server, "--workspace", world.workspace, "--since", "1h")) == len(entries)
    everything = text + json.dumps(entries) + (server.log_path.read_text())
    for secret in [pipeline_secret, *world.tokens.values()]:
        assert secret not in everything
        assert hashlib.sha256(secret.encode()).hexdigest() not in everything


# --- the pages ---

def signed_in(server: RegistryServer, email: str, token: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{server.url}/signin", timeout=30)
    answer = session.post(f"{server.url}/signin", timeout=30, allow_redirects=False,
                          data={"email": email, "token": token, "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 303, answer.text
    return session


def test_pages_show_usage_policies_and_the_audit_log(server: RegistryServer) -> None:
    world = build_world(server, "pages")
    image = oci.image("paged", layers=2)
    size = sum(len(blob) for blob in image.blobs.values())
    admin(server, "plan", "set", world.workspace, "--storage", str(size * 100 // 90))
    assert world.client("write").push_image(world.package, "v1", image).status_code == 201

    browser = signed_in(server, world.email("admin"), world.tokens["admin"])
    workspace_page = browser.get(f"{server.url}/{world.workspace}/workspace/packages", timeout=30).text
    assert "of its storage limit" in workspace_page and 'class="warning"' in workspace_page
    assert "Audit log" in workspace_page

    # A package's policies page: immutable tags and a retention policy, added through the forms.
    policies = f"{server.url}/{world.workspace}/code/packages/container/app/-/policies"
    page = browser.get(policies, timeout=30)
    assert page.status_code == 200 and "No immutable tags." in page.text
    for fields in ({"action": "add-immutable", "pattern": "v*"},
                   {"action": "add-policy", "kind": "tags", "pattern": "pr-*", "keep": "2"}):
        posted = browser.post(policies, data={**fields, "csrf_token": csrf_of(page.text)}, timeout=30,
                              allow_redirects=False)
        assert posted.status_code == 303, posted.text
    assert admin(server, "immutable", "list", world.package) == "v*"
    assert "keep the newest 2 tags matching pr-*" in admin(server, "retention", "list", "--workspace",
                                                           world.workspace)
    admin(server, "plan", "set", world.workspace, "--storage", "none")
    client = world.client("write")
    for n in range(4):
        assert client.push_image(world.package, f"pr-{n}", oci.image(f"paged pr {n}")).status_code == 201
    preview = browser.get(policies + "?preview=1", timeout=30).text
    assert "tag pr-0" in preview and "tag pr-1" in preview and "tag pr-2" not in preview
    assert "Storage used" in browser.get(f"{server.url}/{world.workspace}/workspace/packages", timeout=30).text
    refused = browser.post(policies, data={"action": "add-policy", "kind": "untagged", "csrf_token": csrf_of(page.text)},
                           timeout=30)
    assert refused.status_code == 400 and "needs --older-than-days" in refused.text

    # Writers may not change policies; strangers do not see the page at all.
    writer = signed_in(server, world.email("write"), world.tokens["write"])
    assert writer.get(policies, timeout=30).status_code == 403
    assert writer.get(f"{server.url}/{world.workspace}/workspace/audit", timeout=30).status_code == 403
    stranger = build_world(server, "pagesother")
    outsider = signed_in(server, stranger.email("admin"), stranger.tokens["admin"])
    assert outsider.get(policies, timeout=30).status_code == 404

    # The audit log, for admins: the form's changes with the session's credential; never a secret.
    log_page = browser.get(f"{server.url}/{world.workspace}/workspace/audit", timeout=30)
    assert log_page.status_code == 200
    assert "add v*" in log_page.text and "keep the newest 2 tags matching pr-*" in log_page.text
    assert f"v1 -&gt; {image.digest}" in log_page.text
    for secret in world.tokens.values():
        assert secret not in log_page.text

    # A repository's policies page.
    repository_policies = f"{server.url}/{world.workspace}/code/policies"
    page = browser.get(repository_policies, timeout=30)
    posted = browser.post(repository_policies, data={"action": "add-policy", "kind": "snapshots", "keep": "4",
                                                     "csrf_token": csrf_of(page.text)}, timeout=30)
    assert posted.status_code == 200 and "keep the newest 4 timestamped builds of each SNAPSHOT" in posted.text


def test_the_running_count_is_recounted_before_a_refusal(server: RegistryServer) -> None:
    world = build_world(server, "recount")
    client = world.client("admin")
    first, second = oci.image("counted first", layers=3), oci.image("counted second", layers=3)
    first_size = sum(len(blob) for blob in first.blobs.values())
    second_size = sum(len(blob) for blob in second.blobs.values())
    admin(server, "plan", "set", world.workspace, "--storage", str(max(first_size, second_size) + 100))
    assert client.push_image(world.package, "v1", first).status_code == 201
    # Deleted and collected: the disk no longer holds it, though the running count still does.
    assert client.delete(f"/v2/{world.package}/manifests/{first.digest}").status_code == 202
    admin(server, "gc", "--grace-seconds", "0")
    assert usage(server, world.workspace)["bytes"] == 0
    # The count says the second image does not fit; the recount before refusing finds that it does.
    assert client.push_image(world.package, "v2", second).status_code == 201
    assert usage(server, world.workspace)["bytes"] == second_size
    refused = client.post(f"/v2/{world.package}/blobs/uploads/", params={"digest": oci.digest_of(b"x" * 200)},
                          data=b"x" * 200)
    assert refused.status_code == 403 and f"uses {second_size} B ({second_size} bytes)" in refused.text


def test_usage_follows_deletion_with_retention(server: RegistryServer) -> None:
    world = build_world(server, "deletions")
    assert world.client("admin").push_image(world.package, "v1", oci.image("kept while deleted")).status_code == 201
    stored = usage(server, world.workspace)["bytes"]
    assert stored > 0
    # A deleted package's or repository's storage still counts while it is kept; a deleted workspace's does not.
    admin(server, "package", "delete", world.package, "--type", "container")
    assert usage(server, world.workspace)["bytes"] == stored
    admin(server, "package", "restore", world.package, "--type", "container")
    admin(server, "repository", "delete", world.repository)
    assert usage(server, world.workspace)["bytes"] == stored
    admin(server, "repository", "restore", world.repository)
    admin(server, "retention", "set", "--package", world.package, "--type", "container", "--kind", "tags",
          "--pattern", "*", "--keep", "0")
    admin(server, "workspace", "delete", world.workspace)
    assert usage(server, world.workspace)["bytes"] == 0
    # Policies leave what is deleted alone, to be restored as it was.
    assert admin(server, "retention", "run", "--workspace", world.workspace).startswith("0 deletion(s)")
    admin(server, "workspace", "restore", world.workspace)
    assert usage(server, world.workspace)["bytes"] == stored
    assert "tag v1" in admin(server, "retention", "run", "--workspace", world.workspace)
