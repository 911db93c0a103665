"""The real npm CLI (11.x) against the registry: publish, install and require, view, dist-tag,
deprecate, unpublish, whoami and login, with the credentials forms Bitbucket documents.

One world per module (npm calls cost about half a second each): a workspace whose repository has a
scoped and an unscoped npm package linked to it, and users with each role.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from test.registry.conftest import admin
from test.support.npm_cli import NpmClient, make_package, make_project, node_require, run_in_terminal
from test.support.registry_server import READ, RegistryServer

SCOPED = "@acme/hello"
PLAIN = "plain-hello"


@dataclass
class NpmWorld:
    server: RegistryServer
    workspace: str
    repository: str
    tokens: dict[str, str]
    root: Path

    @property
    def registry(self) -> str:
        return f"{self.server.url}/npm/{self.workspace}/"

    def email(self, role: str) -> str:
        return f"{role}@{self.workspace}.example.com"

    def client(self, role: str | None, label: str = "") -> NpmClient:
        home = self.root / f"{role or 'anonymous'}{label}"
        return NpmClient.with_token(home, self.registry, self.tokens[role] if role else None)

    def package(self, name: str) -> None:
        admin(self.server, "package", "create", f"{self.workspace}/{name}", "--type", "npm",
              "--repository", self.repository)


@pytest.fixture(scope="module")
def world(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> NpmWorld:
    workspace = f"npmcli{os.getpid() % 10**6}"
    admin(registry, "workspace", "create", workspace)
    repository = f"{workspace}/code"
    admin(registry, "repository", "create", repository)
    tokens = {}
    for role in ("read", "write", "admin"):
        email = f"{role}@{workspace}.example.com"
        admin(registry, "user", "create", email)
        admin(registry, "grant", email, repository, role)
        tokens[role] = admin(registry, "token", "create", email, "--scope", READ, "--scope",
                             "write:package:bitbucket")
    world = NpmWorld(registry, workspace, repository, tokens, tmp_path_factory.mktemp("npm"))
    world.package(SCOPED)
    world.package(PLAIN)
    return world


@pytest.fixture(scope="module")
def published(world: NpmWorld) -> NpmWorld:
    """Both packages published at 1.0.0 by the writer."""
    writer = world.client("write")
    for name, body in ((SCOPED, "scoped one"), (PLAIN, "plain one")):
        source = make_package(world.root / "src" / name.replace("/", "_") / "1.0.0", name, "1.0.0", body)
        result = writer.run("publish", cwd=source)
        assert f"{name}@1.0.0" in result.stdout + result.stderr
    return world


def test_publish_install_and_require(published: NpmWorld) -> None:
    reader = published.client("read")
    project = make_project(published.root / "consumer")
    reader.run("install", SCOPED, PLAIN, cwd=project)
    assert node_require(project, SCOPED) == {"name": SCOPED, "version": "1.0.0", "body": "scoped one"}
    assert node_require(project, PLAIN) == {"name": PLAIN, "version": "1.0.0", "body": "plain one"}
    lock = (project / "package-lock.json").read_text()
    assert f"{published.registry}@acme/hello/-/hello-1.0.0.tgz" in lock
    assert "sha512-" in lock


def test_view_shows_our_tarball_url_and_readme(published: NpmWorld) -> None:
    view = published.client("read").run("view", SCOPED, "--json").json()
    assert view["name"] == SCOPED and view["version"] == "1.0.0"
    assert view["dist-tags"] == {"latest": "1.0.0"}
    assert view["dist"]["tarball"] == f"{published.registry}@acme/hello/-/hello-1.0.0.tgz"
    assert view["dist"]["integrity"].startswith("sha512-")
    readme = published.client("read").run("view", SCOPED, "readme").stdout
    assert "Version 1.0.0." in readme


def test_republishing_a_version_is_refused(published: NpmWorld) -> None:
    source = make_package(published.root / "again", PLAIN, "1.0.0", "changed")
    result = published.client("write").run("publish", cwd=source, check=False)
    # npm checks the packument first; the server's own refusal is in test_npm_bad_input.py.
    assert not result.ok and "cannot publish over the previously published versions" in result.stderr


def test_dist_tags(published: NpmWorld) -> None:
    writer = published.client("write")
    source = make_package(published.root / "beta", SCOPED, "2.0.0-beta.1", "beta")
    writer.run("publish", "--tag", "beta", cwd=source)
    assert writer.run("dist-tag", "ls", SCOPED).stdout.split("\n")[:2] == ["beta: 2.0.0-beta.1", "latest: 1.0.0"]
    writer.run("dist-tag", "add", f"{SCOPED}@1.0.0", "stable")
    tags = writer.run("view", SCOPED, "dist-tags", "--json").json()
    assert tags == {"beta": "2.0.0-beta.1", "latest": "1.0.0", "stable": "1.0.0"}
    writer.run("dist-tag", "rm", SCOPED, "stable")
    assert "stable" not in writer.run("dist-tag", "ls", SCOPED).stdout
    refused = published.client("read").run("dist-tag", "add", f"{SCOPED}@1.0.0", "nope", check=False)
    assert not refused.ok and "403" in refused.stderr
    # The installer follows tags: installing @beta gets the pre-release.
    project = make_project(published.root / "beta-consumer")
    published.client("read", "-beta").run("install", f"{SCOPED}@beta", cwd=project)
    assert node_require(project, SCOPED)["version"] == "2.0.0-beta.1"


def test_deprecate_and_undeprecate(published: NpmWorld) -> None:
    writer = published.client("write")
    source = make_package(published.root / "plain2", PLAIN, "2.0.0", "plain two")
    writer.run("publish", cwd=source)
    writer.run("deprecate", f"{PLAIN}@1.0.0", "use 2.x instead")
    view = writer.run("view", f"{PLAIN}@1.0.0", "deprecated").stdout.strip()
    assert view == "use 2.x instead"
    project = make_project(published.root / "deprecated-consumer")
    install = published.client("read", "-dep").run("install", f"{PLAIN}@1.0.0", cwd=project)
    assert "deprecated" in install.stderr and "use 2.x instead" in install.stderr
    writer.run("deprecate", f"{PLAIN}@1.0.0", "")
    assert writer.run("view", f"{PLAIN}@1.0.0", "deprecated").stdout.strip() == ""
    assert writer.run("view", f"{PLAIN}@2.0.0", "version").stdout.strip() == "2.0.0"


def test_unpublish_a_version_and_the_whole_package_which_is_restorable(world: NpmWorld) -> None:
    name = "@acme/short-lived"
    world.package(name)
    writer, boss = world.client("write", "-unpub"), world.client("admin", "-unpub")
    for version in ("1.0.0", "1.1.0"):
        writer.run("publish", cwd=make_package(world.root / "short" / version, name, version))
    refused = writer.run("unpublish", f"{name}@1.1.0", check=False)
    assert not refused.ok and "403" in refused.stderr and "admin" in refused.stderr
    boss.run("unpublish", f"{name}@1.1.0")
    view = boss.run("view", name, "--json").json()
    assert view["versions"] == ["1.0.0"] and view["dist-tags"] == {"latest": "1.0.0"}
    tarball = requests.get(f"{world.registry}{name}/-/short-lived-1.1.0.tgz", timeout=30,
                           headers={"Authorization": f"Bearer {world.tokens['admin']}"})
    assert tarball.status_code == 404
    # Unpublishing the whole package deletes it with retention: gone for every client, its name
    # reserved, and restorable with what it held.
    boss.run("unpublish", name, "--force")
    gone = boss.run("view", name, check=False)
    assert not gone.ok and "404" in gone.stderr
    again = writer.run("publish", cwd=make_package(world.root / "short" / "2.0.0", name, "2.0.0"), check=False)
    assert not again.ok and "404" in again.stderr
    admin(world.server, "package", "restore", f"{world.workspace}/{name}", "--type", "npm")
    view = boss.run("view", name, "--json").json()
    assert view["versions"] == ["1.0.0"] and view["dist-tags"] == {"latest": "1.0.0"}
    writer.run("publish", cwd=make_package(world.root / "short" / "2.0.0", name, "2.0.0"))


def test_whoami_with_each_documented_credential_form(world: NpmWorld) -> None:
    email, token = world.email("read"), world.tokens["read"]
    assert world.client("read").run("whoami").stdout.strip() == email
    basic = NpmClient.with_basic(world.root / "auth-basic", world.registry, email, token)
    assert basic.run("whoami").stdout.strip() == email
    password = NpmClient.with_password(world.root / "auth-password", world.registry, email, token)
    assert password.run("whoami").stdout.strip() == email
    username, pipeline = admin(world.server, "pipeline-token", world.repository).splitlines()
    pipeline_client = NpmClient.with_token(world.root / "auth-pipeline", world.registry, pipeline.split("=", 1)[1])
    assert pipeline_client.run("whoami").stdout.strip() == username.split("=", 1)[1]
    anonymous = world.client(None).run("view", PLAIN, check=False)
    assert not anonymous.ok and "E401" in anonymous.stderr
    wrong = NpmClient.with_token(world.root / "auth-wrong", world.registry, "bbpkg_not-a-token")
    result = wrong.run("view", PLAIN, check=False)
    assert not result.ok and "401" in result.stderr
    assert "bbpkg_not-a-token" not in result.stderr


def test_legacy_login_with_email_and_api_token(world: NpmWorld) -> None:
    client = NpmClient(world.root / "login-legacy", world.registry)
    # npm refuses "@" in a user name: the part of the email before it names the user.
    user = world.email("write").split("@")[0]
    code, output = run_in_terminal(client, ["login", "--auth-type=legacy"],
                                   [("Username:", user), ("Password:", world.tokens["write"])])
    assert code == 0 and "Logged in" in output, output
    assert world.tokens["write"] not in output
    assert f":_authToken={world.tokens['write']}" in client.userconfig.read_text()
    assert client.run("whoami").stdout.strip() == world.email("write")
    client.run("logout")
    assert "_authToken" not in client.userconfig.read_text()
    refused = NpmClient(world.root / "login-refused", world.registry)
    code, output = run_in_terminal(refused, ["login", "--auth-type=legacy"],
                                   [("Username:", user), ("Password:", "bbpkg_wrong")])
    assert code != 0 and "401" in output, output
    assert "_authToken" not in refused.userconfig.read_text()


def test_couch_login_takes_the_email_too(world: NpmWorld) -> None:
    """What npm's legacy login PUTs, sent with the full email (other clients allow the @)."""
    url = f"{world.registry}-/user/org.couchdb.user:{world.email('read')}"
    body = {"_id": f"org.couchdb.user:{world.email('read')}", "name": world.email("read"), "type": "user",
            "roles": [], "date": "2026-01-01T00:00:00Z"}
    ok = requests.put(url, json={**body, "password": world.tokens["read"]}, timeout=30)
    assert ok.status_code == 201 and ok.json()["token"] == world.tokens["read"]
    wrong = requests.put(url, json={**body, "password": world.tokens["write"]}, timeout=30)  # someone else's
    assert wrong.status_code == 401 and world.tokens["write"] not in wrong.text
    assert requests.put(url, data=b"{", timeout=30).status_code == 400


def test_web_login(world: NpmWorld) -> None:
    client = NpmClient(world.root / "login-web", world.registry)
    process = client.popen("login", "--auth-type=web")
    try:
        assert process.stdout is not None
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline:
            line = process.stdout.readline()
            found = re.search(r"(http://\S+/-/v1/login/session/\S+)", line)
            url = found.group(1) if found else ""
        assert url.startswith(world.registry), url
        # The login URL's secret is not the one npm polls with: seeing the link is not enough.
        assert requests.get(url.replace("/session/", "/done/"), timeout=30).status_code == 404
        page = requests.get(url, timeout=30)
        assert page.status_code == 200 and 'name="token"' in page.text
        wrong = requests.post(url, data={"username": world.email("read"), "token": "bbpkg_wrong"}, timeout=30)
        assert wrong.status_code == 401
        done = requests.post(url, data={"username": world.email("read"), "token": world.tokens["read"]}, timeout=30)
        assert done.status_code == 200 and "logged in" in done.text
        assert process.wait(60) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert f":_authToken={world.tokens['read']}" in client.userconfig.read_text()
    assert client.run("whoami").stdout.strip() == world.email("read")
    # A session is collected once.
    assert requests.get(url.replace("/session/", "/done/"), timeout=30).status_code == 404


def test_search_finds_only_readable_packages(published: NpmWorld) -> None:
    found = published.client("read").run("search", "hello", "--json").json()
    assert {entry["name"] for entry in found} >= {SCOPED, PLAIN}
    other = f"{published.workspace}/other"
    admin(published.server, "repository", "create", other)
    email = f"outsider@{published.workspace}.example.com"
    admin(published.server, "user", "create", email)
    admin(published.server, "grant", email, other, "admin")
    token = admin(published.server, "token", "create", email, "--scope", READ)
    outsider = NpmClient.with_token(published.root / "outsider", published.registry, token)
    assert outsider.run("search", "hello", "--json").json() == []
