"""Deletion with retention, restore and purge (registry/lifecycle.py), on both backends, with the real clients.

A deleted repository's packages vanish from every protocol and page, answering exactly as packages
that never existed, and come back on restore with the same digests; their names stay reserved until
purge; purge and gc free the space on disk (or in the bucket). Writers delete tags; what an
overwritten or deleted tag kept is collected.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from test.support import oci_client as oci
from test.support.maven_cli import deploy_file, write_settings
from test.support.npm_cli import NpmClient, make_package
from test.support.oci_client import OciClient, digest_of
from test.support.oci_layout import layout_blob, write_multiarch_layout
from test.support.processes import free_port
from test.support.registry_server import READ, WRITE, RegistryServer
from test.support.services import S3_CREDENTIALS, shared_stores_env
from test.support.skopeo import skopeo

WS = "life"
REPO, OTHER = f"{WS}/code", f"{WS}/other"
BOSS, WRITER = f"boss@{WS}.example.com", f"writer@{WS}.example.com"
IMAGE, NPM_NAME, MAVEN = "webapp-x", "libzz", "com.example:jarzz"
GHOSTS = {IMAGE: "ghostc", NPM_NAME: "ghostn", "jarzz": "ghostm"}  # names that never existed


@dataclass
class Backend:
    server: RegistryServer
    stored_bytes: Callable[[], int]  # what the blob store really holds
    storage_args: list[str] = field(default_factory=list)  # --database ... for the admin commands
    boss: str = ""  # API tokens
    writer: str = ""

    def cli(self, *args: str) -> str:
        """One ``packages-registry`` command (in this process: see RegistryServer.cli); its message in a
        RuntimeError when it fails."""
        return self.server.cli(*self.storage_args, *args)

    def user(self, email: str, repository: str, role: str) -> str:
        self.cli("user", "create", email)
        self.cli("grant", email, repository, role)
        return self.cli("token", "create", email, "--scope", READ, "--scope", WRITE)


def _s3_bytes(s3_env: dict[str, str], bucket: str, prefix: str) -> Callable[[], int]:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env["S3_ENDPOINT"], region_name=s3_env["AWS_DEFAULT_REGION"])

    def total() -> int:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/blobs/")
        return sum(item["Size"] for page in pages for item in page.get("Contents", []))

    return total


@pytest.fixture(scope="module", params=["sqlite-disk", "postgres-s3"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with pytest.MonkeyPatch.context() as environment:
        yield from _backend(request, tmp_path_factory, environment)


def _backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             environment: pytest.MonkeyPatch) -> Iterator[Backend]:
    base = tmp_path_factory.mktemp("lifecycle")
    if request.param == "sqlite-disk":
        server = RegistryServer(data=base / "data", port=free_port())

        def disk_bytes() -> int:
            return sum(path.stat().st_size for path in (server.data / "blobs").rglob("*") if path.is_file())

        stored, storage_args = disk_bytes, []
    else:
        services = request.getfixturevalue("services")
        import psycopg

        schema = f"life_{os.getpid()}"
        with psycopg.connect(services["PG_DSN"], autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        for key in S3_CREDENTIALS:  # for the admin commands run in this process
            environment.setenv(key, services[key])
        env = shared_stores_env(services, f"{services['PG_DSN']}?options=-csearch_path%3D{schema}",
                                f"s3://lifecycle-tests/{base.name}")
        server = RegistryServer(data=base / "data", port=free_port(), env=env)
        stored = _s3_bytes(services, "lifecycle-tests", base.name)
        storage_args = ["--database", env["PACKAGES_REGISTRY_DATABASE"], "--blobs", env["PACKAGES_REGISTRY_BLOBS"],
                        "--s3-endpoint", env["PACKAGES_REGISTRY_S3_ENDPOINT"]]
    server.start()
    world = Backend(server, stored, storage_args)
    world.cli("workspace", "create", WS)
    world.cli("repository", "create", REPO)
    world.cli("repository", "create", OTHER)
    world.boss = world.user(BOSS, REPO, "admin")
    world.cli("grant", BOSS, OTHER, "admin")
    world.writer = world.user(WRITER, REPO, "write")
    yield world
    server.stop()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blank(text: str) -> str:
    """An answer with the package names blanked, so answers for a real and a never-made package compare."""
    for real, ghost in GHOSTS.items():
        text = text.replace(real, "NAME").replace(ghost, "NAME")
    return text


def answers(world: Backend, names: dict[str, str]) -> dict[str, tuple[int, str]]:
    """What every protocol and page says about the packages ``names`` (IMAGE, NPM_NAME, jarzz -> name)."""
    server, auth = world.server, (BOSS, world.boss)
    image, npm, jar = names[IMAGE], names[NPM_NAME], names["jarzz"]
    maven = f"{server.url}/maven/{WS}/com/example/{jar}"
    calls = {
        "oci manifest": ("GET", f"/v2/{WS}/{image}/manifests/v1"),
        "oci head": ("HEAD", f"/v2/{WS}/{image}/manifests/v1"),
        "oci tags": ("GET", f"/v2/{WS}/{image}/tags/list"),
        "npm packument": ("GET", f"/npm/{WS}/{npm}"),
        "npm tarball": ("GET", f"/npm/{WS}/{npm}/-/{npm}-1.0.0.tgz"),
        "maven jar": ("GET", f"{maven}/1.0.0/{jar}-1.0.0.jar"),
        "maven metadata": ("GET", f"{maven}/maven-metadata.xml"),
        "page container": ("GET", f"/{WS}/code/packages/container/{image}"),
        "page npm": ("GET", f"/{WS}/code/packages/npm/{npm}"),
        "page maven": ("GET", f"/{WS}/code/packages/maven/com.example:{jar}"),
    }
    found = {}
    for label, (method, path) in calls.items():
        url = path if path.startswith("http") else server.url + path
        response = requests.request(method, url, auth=auth, timeout=30, allow_redirects=False,
                                    headers={"Accept": oci.ACCEPT} if "oci" in label else {})
        found[label] = (response.status_code, blank(response.text))
    return found


def listed(world: Backend) -> set[str]:
    """Which of the packages the lists, catalogs and searches show."""
    auth, url = (BOSS, world.boss), world.server.url
    shown = set()
    if f"{WS}/{IMAGE}" in requests.get(f"{url}/v2/_catalog", auth=auth, timeout=30).json()["repositories"]:
        shown.add("catalog")
    search = requests.get(f"{url}/npm/{WS}/-/v1/search", params={"text": NPM_NAME}, auth=auth, timeout=30).json()
    if any(hit["package"]["name"] == NPM_NAME for hit in search["objects"]):
        shown.add("npm search")
    page = requests.get(f"{url}/{WS}/workspace/packages", auth=auth, timeout=30).text
    shown.update(f"page {name}" for name in (IMAGE, NPM_NAME, "jarzz") if name in page)
    return shown


def served(world: Backend, work: Path) -> dict[str, str]:
    """The digests each client gets: skopeo (the index), npm (the tarball's integrity), Maven (the jar)."""
    inspected = skopeo(work, "inspect", "--raw", "--tls-verify=false", "--creds", f"{BOSS}:{world.boss}",
                       f"docker://{world.server.host}/{WS}/{IMAGE}:v1", check=False)
    assert inspected.returncode == 0, inspected.stderr
    npm = NpmClient.with_token(work / "npm", f"{world.server.url}/npm/{WS}/", world.boss)
    jar = requests.get(f"{world.server.url}/maven/{WS}/com/example/jarzz/1.0.0/jarzz-1.0.0.jar",
                       auth=(BOSS, world.boss), timeout=30)
    assert jar.status_code == 200
    return {"index": sha256(inspected.stdout.encode()),
            "npm": npm.run("view", NPM_NAME, "dist.integrity").stdout.strip(), "jar": sha256(jar.content)}


def publish_one_of_each(world: Backend, work: Path) -> int:
    """Push an image index, publish an npm package and deploy a jar; return the bytes their blobs take."""
    server = world.server
    for name, kind in ((IMAGE, "container"), (NPM_NAME, "npm"), (MAVEN, "maven")):
        world.cli("package", "create", f"{WS}/{name}", "--type", kind, "--repository", REPO)
    layout = work / "layout"
    write_multiarch_layout(layout, "v1", f"lifecycle-{work.name}")
    copied = skopeo(work, "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds",
                    f"{BOSS}:{world.boss}", f"oci:{layout}:v1", f"docker://{server.host}/{WS}/{IMAGE}:v1",
                    check=False)
    assert copied.returncode == 0, copied.stderr
    npm = NpmClient.with_token(work / "npm", f"{server.url}/npm/{WS}/", world.boss)
    npm.run("publish", cwd=make_package(work / "pkg", NPM_NAME, "1.0.0", body=work.name))
    jar = work / "jarzz-1.0.0.jar"
    jar.write_bytes(b"PK\x05\x06" + bytes(18) + work.name.encode())  # an empty zip, unique to the test
    deploy_file(work / "mvn", write_settings(work / "m2", BOSS, world.boss), f"{server.url}/maven/{WS}/", jar,
                "com.example", "jarzz", "1.0.0").check()
    # Stored blobs: the images' configs and layers (manifests live in the database), the tarball, jar and pom.
    index = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    image_blobs = set()
    for child in json.loads(layout_blob(layout, index))["manifests"]:
        manifest = json.loads(layout_blob(layout, child["digest"]))
        image_blobs.update(d["digest"] for d in [manifest["config"], *manifest["layers"]])
    tarball = requests.get(f"{server.url}/npm/{WS}/{NPM_NAME}/-/{NPM_NAME}-1.0.0.tgz", auth=(BOSS, world.boss),
                           timeout=30).content
    pom = requests.get(f"{server.url}/maven/{WS}/com/example/jarzz/1.0.0/jarzz-1.0.0.pom",
                       auth=(BOSS, world.boss), timeout=30).content
    return sum(len(layout_blob(layout, d)) for d in image_blobs) + len(tarball) + jar.stat().st_size + len(pom)


def refused(world: Backend, *args: str) -> str:
    with pytest.raises(RuntimeError) as error:
        world.cli(*args)
    return str(error.value)


def create_on_the_page(world: Backend, name: str, slug: str) -> requests.Response:
    session = requests.Session()
    session.auth = (BOSS, world.boss)
    form_url = f"{world.server.url}/{WS}/workspace/packages/new"
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', session.get(form_url, timeout=30).text).group(1)
    return session.post(form_url, data={"name": name, "type": "container", "repository": slug,
                                        "csrf_token": csrf}, allow_redirects=False, timeout=30)


def test_deleted_repository_vanishes_comes_back_on_restore_and_is_purged(backend: Backend, tmp_path: Path) -> None:
    world, server = backend, backend.server
    stored_by_packages = publish_one_of_each(world, tmp_path)
    before = served(world, tmp_path)
    ghosts = answers(world, {IMAGE: GHOSTS[IMAGE], NPM_NAME: GHOSTS[NPM_NAME], "jarzz": GHOSTS["jarzz"]})
    assert listed(world) == {"catalog", "npm search", f"page {IMAGE}", f"page {NPM_NAME}", "page jarzz"}
    user, pipeline = (line.split("=", 1)[1] for line in world.cli("pipeline-token", REPO).splitlines())
    assert requests.get(f"{server.url}/v2/", auth=(user, pipeline), timeout=30).status_code == 200

    # Deleted: every protocol and page answers as for packages that never existed; lists skip them.
    assert "can be restored until" in world.cli("repository", "delete", REPO)
    assert world.cli("deleted").startswith(f"repository {REPO}\trestorable until ")
    assert answers(world, {IMAGE: IMAGE, NPM_NAME: NPM_NAME, "jarzz": "jarzz"}) == ghosts
    assert listed(world) == set()
    assert skopeo(tmp_path, "inspect", "--raw", "--tls-verify=false", "--creds", f"{BOSS}:{world.boss}",
                  f"docker://{server.host}/{WS}/{IMAGE}:v1", check=False).returncode != 0
    assert requests.get(f"{server.url}/{WS}/code/packages", auth=(BOSS, world.boss), timeout=30).status_code == 404
    assert requests.get(f"{server.url}/v2/", auth=(user, pipeline), timeout=30).status_code == 401

    # Names stay reserved: the CLI and the create page say until when, and no more.
    message = refused(world, "package", "create", f"{WS}/{IMAGE}", "--type", "container", "--repository", OTHER)
    assert "not available until" in message
    page = create_on_the_page(world, IMAGE, "other")
    assert page.status_code == 400 and "not available until" in page.text and "deleted" not in page.text
    assert "not available until" in refused(world, "repository", "create", REPO)

    # Restored: the same bytes to every client.
    assert "restored" in world.cli("repository", "restore", REPO)
    assert served(world, tmp_path) == before
    assert listed(world) == {"catalog", "npm search", f"page {IMAGE}", f"page {NPM_NAME}", "page jarzz"}

    # A package deleted on its own stays deleted when its repository comes back; restored on its own.
    world.cli("package", "delete", f"{WS}/{MAVEN}", "--type", "maven")
    world.cli("repository", "delete", REPO)
    assert [line.split("\t")[0] for line in world.cli("deleted").splitlines()] == [
        f"maven package {WS}/{MAVEN}", f"repository {REPO}"]
    world.cli("repository", "restore", REPO)
    jar_url = f"{server.url}/maven/{WS}/com/example/jarzz/1.0.0/jarzz-1.0.0.jar"
    assert requests.get(jar_url, auth=(BOSS, world.boss), timeout=30).status_code == 404
    world.cli("package", "restore", f"{WS}/{MAVEN}", "--type", "maven")
    # A deleted workspace hides everything in it, and restoring it brings everything back.
    world.cli("workspace", "delete", WS)
    assert answers(world, {IMAGE: IMAGE, NPM_NAME: NPM_NAME, "jarzz": "jarzz"}) == ghosts
    world.cli("workspace", "restore", WS)
    assert served(world, tmp_path) == before

    # Purge: nothing within the retention period; then everything, and gc frees exactly their blobs.
    world.cli("repository", "delete", REPO)
    assert world.cli("purge").startswith("purged 0 package(s), 0 repository(ies)")
    stored = world.stored_bytes()
    assert world.cli("purge", "--older-than-days", "0").startswith("purged 3 package(s), 1 repository(ies)")
    assert world.stored_bytes() == stored, "purge only releases; gc frees"
    world.cli("gc", "--grace-seconds", "0")
    assert stored - world.stored_bytes() == stored_by_packages
    assert "not deleted (or was purged)" in refused(world, "repository", "restore", REPO)
    # The names are free again.
    world.cli("package", "create", f"{WS}/{IMAGE}", "--type", "container", "--repository", OTHER)
    world.cli("repository", "create", REPO)


def test_writers_delete_tags_and_gc_collects_what_only_they_kept(backend: Backend) -> None:
    world, server = backend, backend.server
    with contextlib.suppress(RuntimeError):
        world.cli("repository", "create", REPO)  # (made again after the test above purged it)
    world.cli("grant", BOSS, REPO, "admin")
    world.cli("grant", WRITER, REPO, "write")
    name = f"{WS}/tagged"
    world.cli("package", "create", name, "--type", "container", "--repository", REPO)
    writer, boss = OciClient(server.url, (WRITER, world.writer)), OciClient(server.url, (BOSS, world.boss))
    untagged, overwritten, kept = oci.image("untagged", layers=2), oci.image("overwritten"), oci.image("kept")
    amd64, arm64 = oci.image("child amd64", arch="amd64"), oci.image("child arm64", arch="arm64")
    for img, tag in ((untagged, "v1"), (overwritten, "v2"), (kept, "v3"), (amd64, amd64.digest),
                     (arm64, arm64.digest)):
        assert writer.push_image(name, tag, img).status_code == 201
    index = oci.index([(amd64, "amd64"), (arm64, "arm64")])
    assert writer.push_manifest(name, "multi", index, oci.OCI_INDEX).status_code == 201
    # Referrers, pushed by digest: one of the kept image, one of the index.
    kept_signature = oci.image("kept signature", artifact_type="application/example",
                               subject=oci.descriptor(kept.media_type, kept.manifest))
    index_signature = oci.image("index signature", artifact_type="application/example",
                                subject=oci.descriptor(oci.OCI_INDEX, index))
    for img in (kept_signature, index_signature):
        assert writer.push_image(name, img.digest, img).status_code == 201

    # A writer deletes a tag (not a manifest by digest); moving a tag untags the old manifest.
    assert writer.delete(f"/v2/{name}/manifests/v1").status_code == 202
    assert writer.get(f"/v2/{name}/manifests/v1", headers={"Accept": oci.ACCEPT}).status_code == 404
    denied = writer.delete(f"/v2/{name}/manifests/{overwritten.digest}")
    assert denied.status_code == 403 and oci.error_codes(denied) == ["DENIED"]
    assert writer.push_manifest(name, "v2", kept.manifest, kept.media_type).status_code == 201
    assert writer.push_manifest(name, "multi", kept.manifest, kept.media_type).status_code == 201
    # ... and on the pages: a confirmation, then the CSRF-protected form.
    page = requests.Session()
    page.auth = (WRITER, world.writer)
    push_extra = oci.image("page tag")
    assert writer.push_image(name, "from-page", push_extra).status_code == 201
    confirm_url = f"{server.url}/{WS}/code/packages/container/{name.split('/', 1)[1]}/-/tags/from-page/delete"
    confirm = page.get(confirm_url, timeout=30)
    assert confirm.status_code == 200 and "Delete tag from-page" in confirm.text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', confirm.text).group(1)
    assert page.post(confirm_url, data={}, allow_redirects=False, timeout=30).status_code == 403  # no CSRF token
    assert page.post(confirm_url, data={"csrf_token": csrf}, allow_redirects=False, timeout=30).status_code == 303
    tags = boss.get(f"/v2/{name}/tags/list").json()["tags"]
    assert sorted(tags) == ["multi", "v2", "v3"]
    # A writer may not delete the package (pages); an admin may.
    package_delete = f"{server.url}/{WS}/code/packages/container/tagged/-/delete"
    assert page.get(package_delete, timeout=30).status_code == 403

    # Within the grace period, gc keeps everything; without it, it takes what only the tags kept,
    # one level at a time: the index first, then its children and its referrer.
    gone = [untagged, overwritten, push_extra]
    world.cli("gc")
    for img in gone:
        assert boss.get(f"/v2/{name}/manifests/{img.digest}", headers={"Accept": oci.ACCEPT}).status_code == 200
    stored = world.stored_bytes()
    # v1's, v2's old and from-page's manifests, and the index; then its children and its referrer.
    assert world.cli("gc", "--grace-seconds", "0").endswith(" 4 untagged manifests")
    assert world.cli("gc", "--grace-seconds", "0").endswith(" 3 untagged manifests")
    assert world.cli("gc", "--grace-seconds", "0").endswith(" 0 untagged manifests")
    kept_blobs = {d: b for img in (kept, kept_signature) for d, b in img.blobs.items()}
    freed = {d: b for img in (*gone, amd64, arm64, index_signature) for d, b in img.blobs.items()
             if d not in kept_blobs}  # (the signatures share the empty config)
    for img in (*gone, amd64, arm64, index_signature):
        assert boss.get(f"/v2/{name}/manifests/{img.digest}", headers={"Accept": oci.ACCEPT}).status_code == 404
    assert boss.get(f"/v2/{name}/manifests/{digest_of(index)}", headers={"Accept": oci.ACCEPT}).status_code == 404
    for digest in freed:
        assert boss.head(f"/v2/{name}/blobs/{digest}").status_code == 404
    for img in (kept, kept_signature):
        assert boss.get(f"/v2/{name}/manifests/{img.digest}", headers={"Accept": oci.ACCEPT}).status_code == 200
    for digest, blob in kept_blobs.items():
        assert boss.get(f"/v2/{name}/blobs/{digest}").content == blob
    assert stored - world.stored_bytes() == sum(len(blob) for blob in freed.values())

    # An admin deletes the package, then the repository, through the pages.
    admin_page = requests.Session()
    admin_page.auth = (BOSS, world.boss)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', admin_page.get(package_delete, timeout=30).text)
    assert admin_page.post(package_delete, data={"csrf_token": csrf.group(1)}, allow_redirects=False,
                           timeout=30).status_code == 303
    assert boss.get(f"/v2/{name}/tags/list").status_code == 404
    assert "not available until" in refused(world, "package", "create", name, "--type", "container",
                                            "--repository", REPO)
    world.cli("package", "restore", name, "--type", "container")
    assert boss.get(f"/v2/{name}/tags/list").json()["tags"] == ["multi", "v2", "v3"]
    repository_delete = f"{server.url}/{WS}/code/delete"
    assert page.get(repository_delete, timeout=30).status_code == 403  # a writer
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', admin_page.get(repository_delete, timeout=30).text)
    assert admin_page.post(repository_delete, data={"csrf_token": csrf.group(1)}, allow_redirects=False,
                           timeout=30).status_code == 303
    assert boss.get(f"/v2/{name}/tags/list").status_code == 404
    world.cli("repository", "restore", REPO)
    assert boss.get(f"/v2/{name}/tags/list").json()["tags"] == ["multi", "v2", "v3"]
