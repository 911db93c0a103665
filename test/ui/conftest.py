"""A world for the UI tests, built once per session on the shared registry server.

Workspace W with repositories web and api (project WEB) and secret (project SEC); users of
different roles; a multi-platform image with labels and a signature referrer; enough packages for
two pages of a list. Names and labels carry markup, to prove it is shown as text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from test.registry.conftest import admin
from test.support.oci_client import OCI_INDEX, OciClient, descriptor, digest_of, image, index
from test.support.registry_server import READ, WRITE, RegistryServer

XSS_LABEL = '<script>alert("label")</script>'
XSS_ANNOTATION = '<img src=x onerror=alert("annotation")>'
SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
BULK = 30  # packages in repository web besides app: more than one page of 25


@dataclass
class UiWorld:
    server: RegistryServer
    workspace: str
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)  # who -> (email, API token)
    index_digest: str = ""
    amd64_digest: str = ""
    signature_digest: str = ""

    def email(self, user: str) -> str:
        return f"{user}@{self.workspace}.example.com"

    def repo(self, slug: str) -> str:
        return f"{self.workspace}/{slug}"

    def url(self, path: str) -> str:
        return self.server.url + path

    def basic(self, user: str) -> requests.Session:
        """A script's session: HTTP Basic credentials on every page."""
        session = requests.Session()
        session.auth = self.credentials[user]
        return session

    def get(self, user: str, path: str, **kwargs: object) -> requests.Response:
        """GET a page as a script of ``user`` (HTTP Basic)."""
        return self.basic(user).get(self.url(path), timeout=30, **kwargs)  # type: ignore[arg-type]

    def signed_in(self, user: str) -> requests.Session:
        """A browser-like session: signed in through the form, holding the session cookie."""
        session = requests.Session()
        form = session.get(self.url("/signin"), timeout=30)
        response = session.post(self.url("/signin"), timeout=30, allow_redirects=False, data={
            "email": self.credentials[user][0], "token": self.credentials[user][1],
            "csrf_token": csrf_of(form.text),
        })
        assert response.status_code == 303, response.text
        return session


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _push_world(world: UiWorld) -> None:
    client = OciClient(world.server.url, world.credentials["admin"])
    name = f"{world.workspace}/app"
    amd64 = image(XSS_LABEL, arch="amd64", layers=2)
    arm64 = image("arm64 build", arch="arm64")
    for platform in (amd64, arm64):
        assert client.push_image(name, platform.digest, platform).status_code == 201
    index_bytes = index([(amd64, "amd64"), (arm64, "arm64")])
    assert client.push_manifest(name, "1.0", index_bytes, OCI_INDEX).status_code == 201
    assert client.push_image(name, "amd64", amd64).status_code == 201
    signature = image("signature", artifact_type=SIGNATURE_TYPE, subject=descriptor(OCI_INDEX, index_bytes),
                      annotations={"dev.sigstore.cosign/bundle": XSS_ANNOTATION})
    assert client.push_image(name, signature.digest, signature).status_code == 201
    world.index_digest, world.amd64_digest, world.signature_digest = (
        digest_of(index_bytes), amd64.digest, signature.digest)
    tool = image("cli tool")
    lines = admin(world.server, "pipeline-token", world.repo("api")).splitlines()
    pipeline = dict(line.split("=", 1) for line in lines)
    client = OciClient(world.server.url,
                       (pipeline["BITBUCKET_PACKAGES_USERNAME"], pipeline["BITBUCKET_PACKAGES_TOKEN"]))
    assert client.push_image(f"{world.workspace}/tools/cli", "2.0", tool).status_code == 201


@pytest.fixture(scope="session")
def ui_world(registry: RegistryServer) -> Iterator[UiWorld]:
    world = UiWorld(registry, f"ui{os.getpid() % 100000}")
    ws = world.workspace
    admin(registry, "workspace", "create", ws)
    admin(registry, "repository", "create", world.repo("web"), "--project", "WEB")
    admin(registry, "repository", "create", world.repo("api"), "--project", "WEB")
    admin(registry, "repository", "create", world.repo("secret"), "--project", "SEC")
    users = {"admin": {"web": "admin", "api": "read"}, "reader": {"web": "read"},
             "outsider": {"secret": "read"}}
    for user, roles in users.items():
        admin(registry, "user", "create", world.email(user))
        for slug, role in roles.items():
            admin(registry, "grant", world.email(user), world.repo(slug), role)
        world.credentials[user] = (world.email(user), admin(
            registry, "token", "create", world.email(user), "--scope", READ, "--scope", WRITE,
            "--name", f"{user} cli"))
    # The admin again, with a read-only token: rights are scopes ∩ roles.
    world.credentials["admin-readonly"] = (world.email("admin"), admin(
        registry, "token", "create", world.email("admin"), "--scope", READ, "--name", "read only"))
    for package, slug in (("app", "web"), ("tools/cli", "api"), ("hidden-secret", "secret")):
        admin(registry, "package", "create", f"{ws}/{package}", "--type", "container", "--repository",
              world.repo(slug))
    for i in range(BULK):
        admin(registry, "package", "create", f"{ws}/bulk-{i:02d}", "--type", "container", "--repository",
              world.repo("web"))
    _push_world(world)
    yield world
