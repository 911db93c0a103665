"""The npm permission matrix: roles × token scopes × pipeline tokens × anonymous, over raw HTTP.

Every principal runs the same calls against a package of the world, with ``Bearer <token>`` (an
``_authToken``) and with Basic (``_auth``). A caller with no right on the package's repository gets,
word for word, the answers for a package that does not exist.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

import pytest
import requests

from test.registry.conftest import ROLES, World, admin, build_world
from test.support.npm_documents import NpmHttp, publish_document
from test.support.registry_server import READ, WRITE, RegistryServer

SCOPE_SETS = {"read-scope": (READ,), "write-scope": (WRITE,), "both-scopes": (READ, WRITE)}
RIGHT = {"none": 0, "read": 1, "write": 2, "admin": 3}
PACKAGE = "@perm/lib"
_versions = itertools.count(1)


@dataclass
class Principal:
    credentials: tuple[str, str] | None  # (username, token); None for anonymous
    right: int | None  # 0..3 on the package; None: not authenticated at all (401)


@dataclass
class Matrix:
    world: World
    principals: dict[str, Principal]


def _npm_package(world: World, name: str, repository: str | None = None) -> None:
    admin(world.server, "package", "create", f"{world.workspace}/{name}", "--type", "npm",
          "--repository", repository or world.repository)


@pytest.fixture(scope="module")
def matrix(registry: RegistryServer) -> Matrix:
    world = build_world(registry, f"npmperm{os.getpid() % 10**6}")
    _npm_package(world, PACKAGE)
    boss = NpmHttp(registry.url, world.workspace, NpmHttp.bearer(world.tokens["admin"]))
    assert boss.publish(PACKAGE, publish_document(PACKAGE, "0.1.0")).status_code == 201
    principals: dict[str, Principal] = {
        "anonymous": Principal(None, None),
        "wrong token": Principal((world.email("admin"), "bbpkg_not-a-real-token"), None),
        "no role": Principal((f"stranger@{world.workspace}.example.com",
                              world.user(f"stranger@{world.workspace}.example.com", {})), 0),
    }
    for role in ROLES:
        for label, scopes in SCOPE_SETS.items():
            email = f"{role}-{label}@{world.workspace}.example.com"
            token = world.user(email, {world.repository: role}, scopes)
            principals[f"{role}/{label}"] = Principal((email, token), min(RIGHT[role], 1 if scopes == (READ,) else 3))
    other = world.new_repository("other")
    principals["pipeline of another repository"] = Principal(world.pipeline_token(other), 0)
    principals["pipeline of the package's repository"] = Principal(world.pipeline_token(world.repository), 2)
    principals["expired pipeline token"] = Principal(world.pipeline_token(world.repository, ttl=1), None)
    revoked_email = f"revoked@{world.workspace}.example.com"
    revoked = world.user(revoked_email, {world.repository: "admin"})
    admin(registry, "token", "revoke", admin(registry, "token", "list", revoked_email).split("\t")[0])
    principals["revoked token"] = Principal((revoked_email, revoked), None)
    time.sleep(1.1)  # let the expiring token expire
    return Matrix(world, principals)


def _answer(response: requests.Response, name: str) -> tuple[int, str]:
    return response.status_code, response.text.replace(name, "NAME")


def run_calls(client: NpmHttp, boss: NpmHttp, name: str) -> dict[str, tuple[int, str]]:
    """Each call of the matrix; the boss (an admin) sets the stage for the ones that need it."""
    victim = f"0.9.{next(_versions)}"
    boss.publish(name, publish_document(name, victim, tag="victim"))
    escaped = NpmHttp.escaped(name)

    def current() -> dict:
        """The packument as npm reads it before a change (what the caller PUTs back, changed)."""
        response = boss.request("GET", f"{escaped}?write=true")
        return response.json() if response.status_code == 200 else {"name": name, "versions": {}}

    def deprecate() -> requests.Response:
        document = current()
        document["versions"] = {v: {**doc, "deprecated": "old"} for v, doc in document["versions"].items()}
        return client.request("PUT", escaped, json=document)

    def unpublish_victim() -> requests.Response:
        document = current()
        document["versions"].pop(victim, None)
        return client.request("PUT", f"{escaped}/-rev/{document.get('_rev', '1-x')}", json=document)

    fresh = f"1.0.{next(_versions)}"
    calls = {
        "read packument": lambda: client.packument(name),
        "read abbreviated packument": lambda: client.packument(name, abbreviated=True),
        "read tarball": lambda: client.tarball(name, "0.1.0"),
        "read version": lambda: client.request("GET", f"{escaped}/0.1.0"),
        "read dist-tags": lambda: client.request("GET", f"-/package/{escaped}/dist-tags"),
        "write publish": lambda: client.publish(name, publish_document(name, fresh)),
        "write dist-tag": lambda: client.request("PUT", f"-/package/{escaped}/dist-tags/next", json="0.1.0"),
        "write deprecate": deprecate,
        "admin unpublish version": unpublish_victim,
    }
    return {label: _answer(call(), name) for label, call in calls.items()}


def expected_status(call: str, right: int | None) -> int:
    if right is None:
        return 401
    if right == 0:
        return 404  # as if the package did not exist
    need = {"read": 1, "write": 2, "admin": 3}[call.split()[0]]
    if right < need:
        return 403
    return 201 if call in ("write publish", "write dist-tag") else 200


def _client(server: RegistryServer, workspace: str, principal: Principal, how: str) -> NpmHttp:
    if principal.credentials is None:
        return NpmHttp(server.url, workspace)
    username, token = principal.credentials
    header = NpmHttp.bearer(token) if how == "bearer" else NpmHttp.basic(username, token)
    return NpmHttp(server.url, workspace, header)


@pytest.mark.parametrize("how", ["bearer", "basic"])
def test_matrix(matrix: Matrix, how: str) -> None:
    world = matrix.world
    boss = NpmHttp(world.server.url, world.workspace, NpmHttp.bearer(world.tokens["admin"]))
    missing = "@perm/does-not-exist"
    failures = []
    for key, principal in matrix.principals.items():
        client = _client(world.server, world.workspace, principal, how)
        answers = run_calls(client, boss, PACKAGE)
        for call, (status, body) in answers.items():
            want = expected_status(call, principal.right)
            if status != want:
                failures.append(f"{key} {how} {call}: {status} (wanted {want}) {body[:200]}")
            if status >= 400 and not body.startswith('{"error": '):
                failures.append(f"{key} {how} {call}: not an npm error body: {body[:200]}")
        if principal.right is None:
            challenge = client.packument(PACKAGE).headers.get("WWW-Authenticate", "")
            assert challenge.startswith('Basic realm="packages-registry"'), key
        if principal.right == 0:
            # No existence leak: the same answers, word for word, as for a package that does not exist.
            assert answers == run_calls(client, boss, missing), key
        search = client.request("GET", "-/v1/search", params={"text": "perm"})
        if principal.right is None:
            if search.status_code != 401:
                failures.append(f"{key} {how} search: {search.status_code}")
        else:
            names = [entry["package"]["name"] for entry in search.json()["objects"]]
            if (PACKAGE in names) != (principal.right >= 1):
                failures.append(f"{key} {how} search: {names}")
    assert not failures, "\n".join(failures)


def test_unpublishing_the_whole_package_takes_admin(matrix: Matrix) -> None:
    world = matrix.world
    name = "@perm/doomed"
    _npm_package(world, name)
    boss = NpmHttp(world.server.url, world.workspace, NpmHttp.bearer(world.tokens["admin"]))
    writer = NpmHttp(world.server.url, world.workspace, NpmHttp.bearer(world.tokens["write"]))
    assert boss.publish(name, publish_document(name, "1.0.0")).status_code == 201
    rev = boss.request("GET", f"{NpmHttp.escaped(name)}?write=true").json()["_rev"]
    refused = writer.request("DELETE", f"{NpmHttp.escaped(name)}/-rev/{rev}")
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    stale = boss.request("DELETE", f"{NpmHttp.escaped(name)}/-rev/0-stale")
    assert stale.status_code == 409
    assert boss.request("DELETE", f"{NpmHttp.escaped(name)}/-rev/{rev}").status_code == 200
    assert boss.packument(name).status_code == 404
    assert boss.tarball(name, "1.0.0").status_code == 404


def test_publish_to_an_unknown_package_says_how_to_create_it(matrix: Matrix) -> None:
    world = matrix.world
    name = "@perm/brand-new"
    boss = NpmHttp(world.server.url, world.workspace, NpmHttp.bearer(world.tokens["admin"]))
    response = boss.publish(name, publish_document(name, "1.0.0"))
    assert response.status_code == 404
    assert f"packages-registry package create {world.workspace}/{name} --type npm" in response.json()["error"]


def test_auto_create_links_to_the_pipeline_tokens_repository(tmp_path) -> None:
    from test.support.registry_server import start_registry

    server = start_registry(tmp_path / "auto", "--auto-create")
    try:
        server.ensure_repository("auto/code")
        username, token = server.pipeline_token("auto/code")
        pipeline = NpmHttp(server.url, "auto", NpmHttp.bearer(token))
        assert pipeline.publish("made-by-ci", publish_document("made-by-ci", "1.0.0")).status_code == 201
        assert pipeline.packument("made-by-ci").json()["versions"]["1.0.0"]["_npmUser"] == {"name": username}
        # Another repository's pipeline may neither see it nor publish to it.
        _, other = server.pipeline_token("auto/other")
        stranger = NpmHttp(server.url, "auto", NpmHttp.bearer(other))
        assert stranger.publish("made-by-ci", publish_document("made-by-ci", "1.0.1")).status_code == 404
        # A user's token never auto-creates.
        user_token = server.user("dev@auto.example.com", {"auto/code": "admin"})
        user = NpmHttp(server.url, "auto", NpmHttp.bearer(user_token))
        assert user.publish("made-by-hand", publish_document("made-by-hand", "1.0.0")).status_code == 404
    finally:
        server.stop()
