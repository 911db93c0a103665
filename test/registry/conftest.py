"""Worlds for the registry tests: a workspace, a repository, a package and users of each role.

The admin commands run in-process (RegistryServer.cli: the same ``registry.cli.main`` the console script
runs, against the server's data dir) because a world takes a dozen of them and a fresh interpreter each
would cost seconds. test_cli.py runs the real console command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from test.support.npm_documents import NpmHttp
from test.support.oci_client import OciClient
from test.support.registry_server import READ, WRITE, RegistryServer

ROLES = ("read", "write", "admin")


def admin(server: RegistryServer, *args: str) -> str:
    """Run one ``packages-registry`` command on the server's data dir; return its stdout."""
    return server.cli(*args)


def npm_package_admin(server: RegistryServer, workspace: str, name: str) -> NpmHttp:
    """A new workspace with repository ``code``, the npm package ``name`` linked to it, and an npm
    client for a user with admin there (read+write token)."""
    admin(server, "workspace", "create", workspace)
    admin(server, "repository", "create", f"{workspace}/code")
    admin(server, "package", "create", f"{workspace}/{name}", "--type", "npm", "--repository", f"{workspace}/code")
    email = f"dev@{workspace}.example.com"
    admin(server, "user", "create", email)
    admin(server, "grant", email, f"{workspace}/code", "admin")
    token = admin(server, "token", "create", email, "--scope", READ, "--scope", WRITE)
    return NpmHttp(server.url, workspace, NpmHttp.bearer(token))


@dataclass
class World:
    server: RegistryServer
    workspace: str
    repository: str  # workspace/slug
    package: str  # workspace/image, linked to the repository
    tokens: dict[str, str] = field(default_factory=dict)  # role -> API token (read+write scopes)

    def email(self, role: str) -> str:
        return f"{role}@{self.workspace}.example.com"

    def client(self, role: str | None) -> OciClient:
        """A Basic-auth client of a user with that role (None: anonymous)."""
        if role is None:
            return OciClient(self.server.url)
        return OciClient(self.server.url, (self.email(role), self.tokens[role]))

    def user(self, email: str, roles: dict[str, str], scopes: tuple[str, ...] = (READ, WRITE),
             expires_days: float | None = None) -> str:
        admin(self.server, "user", "create", email)
        for repository, role in roles.items():
            admin(self.server, "grant", email, repository, role)
        args = ["token", "create", email] + [arg for scope in scopes for arg in ("--scope", scope)]
        if expires_days is not None:
            args += ["--expires-days", str(expires_days)]
        return admin(self.server, *args)

    def new_package(self, image: str, repository: str | None = None) -> str:
        admin(self.server, "package", "create", f"{self.workspace}/{image}", "--type", "container",
              "--repository", repository or self.repository)
        return f"{self.workspace}/{image}"

    def new_repository(self, slug: str) -> str:
        admin(self.server, "repository", "create", f"{self.workspace}/{slug}")
        return f"{self.workspace}/{slug}"

    def pipeline_token(self, repository: str, ttl: float | None = None) -> tuple[str, str]:
        args = ["pipeline-token", repository] + (["--ttl", str(ttl)] if ttl is not None else [])
        lines = dict(line.split("=", 1) for line in admin(self.server, *args).splitlines())
        return lines["BITBUCKET_PACKAGES_USERNAME"], lines["BITBUCKET_PACKAGES_TOKEN"]


def build_world(server: RegistryServer, workspace: str) -> World:
    admin(server, "workspace", "create", workspace)
    world = World(server, workspace, f"{workspace}/code", f"{workspace}/app")
    admin(server, "repository", "create", world.repository)
    world.new_package("app")
    for role in ROLES:
        world.tokens[role] = world.user(world.email(role), {world.repository: role})
    return world


@pytest.fixture
def make_world(registry: RegistryServer, unique: str) -> Callable[..., World]:
    """make_world(suffix="", server=registry): a fresh world in its own workspace."""

    def make(suffix: str = "", server: RegistryServer | None = None) -> World:
        return build_world(server or registry, f"{unique}{suffix}")

    return make


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()
