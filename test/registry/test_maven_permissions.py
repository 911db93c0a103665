"""Who may read and deploy Maven packages: roles x token scopes x pipeline tokens x anonymous, the
no-leak rule, auto-create, and refusals before the body for ``Expect: 100-continue``."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from test.registry.conftest import admin
from test.support.maven_http import MavenHttp, artifact_path, put_with_expect
from test.support.registry_server import READ, WRITE, RegistryServer, start_registry

GROUP = "com.example.perm"
JAR = b"PK\x05\x06" + b"\0" * 18  # an empty zip


@dataclass
class PermWorld:
    server: RegistryServer
    workspace: str
    auth: dict[str, tuple[str, str] | None] = field(default_factory=dict)

    def http(self, who: str) -> MavenHttp:
        return MavenHttp(self.server.url, self.workspace, self.auth[who])


def _user(server: RegistryServer, email: str, roles: dict[str, str], scopes: tuple[str, ...]) -> tuple[str, str]:
    admin(server, "user", "create", email)
    for repository, role in roles.items():
        admin(server, "grant", email, repository, role)
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    return email, admin(server, "token", "create", email, *args)


def _pipeline(server: RegistryServer, repository: str) -> tuple[str, str]:
    lines = dict(line.split("=", 1) for line in admin(server, "pipeline-token", repository).splitlines())
    return lines["BITBUCKET_PACKAGES_USERNAME"], lines["BITBUCKET_PACKAGES_TOKEN"]


@pytest.fixture(scope="module")
def pw(registry: RegistryServer) -> PermWorld:
    workspace = f"mp{uuid.uuid4().hex[:8]}"
    admin(registry, "workspace", "create", workspace)
    code, other = f"{workspace}/code", f"{workspace}/other"
    admin(registry, "repository", "create", code)
    admin(registry, "repository", "create", other)
    admin(registry, "package", "create", f"{workspace}/{GROUP}:lib", "--type", "maven", "--repository", code)
    world = PermWorld(registry, workspace)
    mail = f"@{workspace}.example.com"
    world.auth = {
        "anonymous": None,
        "bad-token": (f"write{mail}", "not-a-token"),
        "no-role": _user(registry, f"nobody{mail}", {}, (READ, WRITE)),
        "other-repo-writer": _user(registry, f"elsewhere{mail}", {other: "write"}, (READ, WRITE)),
        "read": _user(registry, f"read{mail}", {code: "read"}, (READ, WRITE)),
        "write": _user(registry, f"write{mail}", {code: "write"}, (READ, WRITE)),
        "admin": _user(registry, f"admin{mail}", {code: "admin"}, (READ, WRITE)),
        "write-read-scope": _user(registry, f"writeread{mail}", {code: "write"}, (READ,)),
        "admin-read-scope": _user(registry, f"adminread{mail}", {code: "admin"}, (READ,)),
        "pipeline": _pipeline(registry, code),
        "other-pipeline": _pipeline(registry, other),
    }
    world.http("write").deploy(artifact_path(GROUP, "lib", "1.0"), JAR)
    return world


# who -> (GET status, PUT status)
MATRIX = {
    "anonymous": (401, 401),
    "bad-token": (401, 401),
    "no-role": (404, 404),
    "other-repo-writer": (404, 404),
    "other-pipeline": (404, 404),
    "read": (200, 403),
    "write-read-scope": (200, 403),
    "admin-read-scope": (200, 403),
    "write": (200, 201),
    "admin": (200, 201),
    "pipeline": (200, 201),
}


@pytest.mark.parametrize("who", list(MATRIX))
def test_permission_matrix(pw: PermWorld, who: str) -> None:
    get_status, put_status = MATRIX[who]
    http = pw.http(who)
    for path in (artifact_path(GROUP, "lib", "1.0"), artifact_path(GROUP, "lib", "1.0", ".jar.sha1"),
                 f"{GROUP.replace('.', '/')}/lib/maven-metadata.xml"):
        response = http.get(path)
        assert response.status_code == get_status, (path, response.text)
        if get_status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    version = f"2.{list(MATRIX).index(who)}"
    response = http.put(artifact_path(GROUP, "lib", version), JAR)
    assert response.status_code == put_status, response.text
    stored = pw.http("admin").get(artifact_path(GROUP, "lib", version)).status_code
    assert stored == (200 if put_status == 201 else 404)


def test_no_read_right_looks_exactly_like_a_missing_package(pw: PermWorld) -> None:
    existing = pw.http("no-role").get(artifact_path(GROUP, "lib", "1.0"))
    missing = pw.http("no-role").get(artifact_path(GROUP, "nothing", "1.0", ".jar").replace("nothing", "lib2"))
    assert existing.status_code == missing.status_code == 404
    assert existing.text.replace(f"{GROUP}:lib", "X") == missing.text.replace(f"{GROUP}:lib2", "X")
    assert existing.reason.replace(f"{GROUP}:lib", "X") == missing.reason.replace(f"{GROUP}:lib2", "X")
    assert "packages-registry package create" in missing.text and "--type maven" in missing.text


def _basic(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def test_expect_continue_refusals_come_before_the_body(pw: PermWorld) -> None:
    host, port = "127.0.0.1", pw.server.port
    path = f"/maven/{pw.workspace}/" + artifact_path(GROUP, "lib", "3.0")
    status, _ = put_with_expect(host, port, path, {}, JAR)
    assert " 401 " in status
    status, _ = put_with_expect(host, port, path, {"Authorization": _basic(pw.auth["read"])}, JAR)
    assert " 403 " in status
    status, _ = put_with_expect(host, port, path, {"Authorization": _basic(pw.auth["no-role"])}, JAR)
    assert " 404 " in status
    released = f"/maven/{pw.workspace}/" + artifact_path(GROUP, "lib", "1.0")
    other = {"Authorization": _basic(pw.auth["write"]), "X-Checksum-Sha1": hashlib.sha1(b"other").hexdigest()}
    status, _ = put_with_expect(host, port, released, other, JAR + b"other")
    assert " 409 " in status  # its checksum header already says it is not the release's content
    # The same bytes again (a retried deploy): the body is wanted, and the release is unchanged.
    status, rest = put_with_expect(host, port, released, {"Authorization": _basic(pw.auth["write"])}, JAR)
    assert " 100 " in status and rest.startswith(b"HTTP/1.1 20")
    status, rest = put_with_expect(host, port, path, {"Authorization": _basic(pw.auth["write"])}, JAR)
    assert " 100 " in status and rest.startswith(b"HTTP/1.1 201")


@pytest.fixture(scope="module")
def auto_create_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(Path(tmp_path_factory.mktemp("maven-auto")), "--auto-create")
    yield server
    server.stop()


def test_auto_create_links_a_new_package_to_the_pipeline_repository(auto_create_server: RegistryServer) -> None:
    server = auto_create_server
    for workspace in ("auto", "elsewhere"):
        admin(server, "workspace", "create", workspace)
        admin(server, "repository", "create", f"{workspace}/code")
    pipeline = MavenHttp(server.url, "auto", _pipeline(server, "auto/code"))
    pipeline.deploy(artifact_path("org.auto", "made", "1.0"), JAR)
    assert pipeline.get(artifact_path("org.auto", "made", "1.0")).content == JAR
    # A user token, or a pipeline token of another workspace, never creates packages.
    writer = MavenHttp(server.url, "auto", _user(server, "w@auto.example.com", {"auto/code": "admin"},
                                                 (READ, WRITE)))
    assert writer.put(artifact_path("org.auto", "other", "1.0"), JAR).status_code == 404
    stranger = MavenHttp(server.url, "auto", _pipeline(server, "elsewhere/code"))
    assert stranger.put(artifact_path("org.auto", "third", "1.0"), JAR).status_code == 404
    # Linked to auto/code: its admin reads it.
    assert writer.get(artifact_path("org.auto", "made", "1.0")).status_code == 200


def test_a_remembered_decision_does_not_outlive_a_change(pw: PermWorld) -> None:
    """Resolvers ask for many files with the same credentials, and the server remembers what it
    decided: a role lowered, a token revoked or a token expired must tell on the very next request."""
    code = f"{pw.workspace}/code"
    email, secret = _user(pw.server, f"changing@{pw.workspace}.example.com", {code: "write"}, (READ, WRITE))
    http = MavenHttp(pw.server.url, pw.workspace, (email, secret))
    path = artifact_path(GROUP, "lib", "1.0")
    for _ in range(3):
        assert http.get(path).status_code == 200
    assert http.put(artifact_path(GROUP, "lib", "9.0"), JAR).status_code == 201

    admin(pw.server, "grant", email, code, "read")
    assert http.put(artifact_path(GROUP, "lib", "9.1"), JAR).status_code == 403
    assert http.get(path).status_code == 200

    token_id = admin(pw.server, "token", "list", email).split("\t", 1)[0]
    admin(pw.server, "token", "revoke", token_id)
    assert http.get(path).status_code == 401

    lines = dict(line.split("=", 1) for line in admin(pw.server, "pipeline-token", code, "--ttl", "3").splitlines())
    pipeline = MavenHttp(pw.server.url, pw.workspace,
                         (lines["BITBUCKET_PACKAGES_USERNAME"], lines["BITBUCKET_PACKAGES_TOKEN"]))
    expires = time.time() + 3
    assert pipeline.get(path).status_code == 200
    while time.time() < expires - 0.3:  # keeps the decision fresh in memory up to the last moment
        assert pipeline.get(path).status_code == 200
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    assert pipeline.get(path).status_code == 401
