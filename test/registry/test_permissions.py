"""The permission matrix: who may pull, push, delete, list tags and see a package in the catalog.

Every principal runs the same calls against a package of the world, with Basic credentials on the API
and with a Bearer token from the token endpoint. A caller with no right on the package's repository must
get exactly the answer it gets for a package that does not exist.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pytest
import requests

from test.registry.conftest import ROLES, World, admin, build_world
from test.support import oci_client as oci
from test.support.oci_client import OciClient, digest_of
from test.support.registry_server import READ, WRITE, RegistryServer

SCOPE_SETS = {"read-scope": (READ,), "write-scope": (WRITE,), "both-scopes": (READ, WRITE)}
RIGHT = {"none": 0, "read": 1, "write": 2, "admin": 3}


@dataclass
class Principal:
    label: str
    credentials: tuple[str, str] | None  # Basic (username, token); None for anonymous
    right: int | None  # 0..3 on the world's package; None: not authenticated at all (401)


@dataclass
class Matrix:
    world: World
    image: oci.Image
    principals: dict[str, Principal]


@pytest.fixture(scope="module")
def matrix(registry: RegistryServer) -> Matrix:
    world = build_world(registry, f"perm{os.getpid() % 10**6}")
    img = oci.image(world.workspace)
    assert world.client("admin").push_image(world.package, "v1", img).status_code == 201
    principals: dict[str, Principal] = {
        "anonymous": Principal("anonymous", None, None),
        "wrong token": Principal("wrong token", (world.email("admin"), "bbpkg_not-a-real-token"), None),
        "no role": Principal("no role", (f"stranger@{world.workspace}.example.com",
                                         world.user(f"stranger@{world.workspace}.example.com", {})), 0),
    }
    for role in ROLES:
        for label, scopes in SCOPE_SETS.items():
            email = f"{role}-{label}@{world.workspace}.example.com"
            token = world.user(email, {world.repository: role}, scopes)
            ceiling = 1 if scopes == (READ,) else 3
            principals[f"{role}/{label}"] = Principal(f"{role}/{label}", (email, token), min(RIGHT[role], ceiling))

    other_repo = world.new_repository("other")
    principals["pipeline of another repository"] = Principal("pipeline", world.pipeline_token(other_repo), 0)
    principals["pipeline of the package's repository"] = Principal("pipeline", world.pipeline_token(world.repository),
                                                                   2)
    expired_user = world.user(f"expired@{world.workspace}.example.com", {world.repository: "admin"},
                              expires_days=0.00001)
    principals["expired token"] = Principal("expired", (f"expired@{world.workspace}.example.com", expired_user), None)
    principals["expired pipeline token"] = Principal("expired pipeline", world.pipeline_token(world.repository, ttl=1),
                                                     None)
    revoked_email = f"revoked@{world.workspace}.example.com"
    revoked = world.user(revoked_email, {world.repository: "admin"})
    token_id = admin(registry, "token", "list", revoked_email).split("\t")[0]
    assert "revoked" in admin(registry, "token", "revoke", token_id)
    assert "\trevoked" in admin(registry, "token", "list", revoked_email)
    principals["revoked token"] = Principal("revoked", (revoked_email, revoked), None)
    time.sleep(1.1)  # let the expiring tokens expire
    return Matrix(world, img, principals)


def bearer_for(server: RegistryServer, credentials: tuple[str, str] | None, scopes: list[str]) -> str | None:
    """A token from the token endpoint, or None when it refuses the credentials."""
    response = requests.get(f"{server.url}/auth/token", params={"service": "packages-registry", "scope": scopes},
                            auth=credentials, timeout=30)
    if response.status_code == 401:
        return None
    assert response.status_code == 200, response.text
    return response.json()["token"]


def _answer(response: requests.Response, name: str) -> tuple[int, str]:
    """Status and body, with the package name blanked so answers for two names compare."""
    return response.status_code, response.text.replace(name, "NAME")


def run_calls(client: OciClient, boss: OciClient, name: str, img: oci.Image) -> dict[str, tuple[int, str]]:
    blob = list(img.blobs)[1]
    fresh = os.urandom(64)
    boss.push_manifest(name, "victim", img.manifest, oci.OCI_MANIFEST)
    doomed = oci.image(f"doomed-{name}")  # deleted by digest: not the image the other calls read
    for digest, data in doomed.blobs.items():  # (refused for the package that does not exist)
        boss.push_blob(name, data, digest.split(":")[0])
    boss.push_manifest(name, "doomed", doomed.manifest, doomed.media_type)
    calls = {
        "pull manifest": lambda: client.get(f"/v2/{name}/manifests/v1", headers={"Accept": oci.ACCEPT}),
        "head manifest": lambda: client.head(f"/v2/{name}/manifests/v1"),
        "pull blob": lambda: client.get(f"/v2/{name}/blobs/{blob}"),
        "head blob": lambda: client.head(f"/v2/{name}/blobs/{blob}"),
        "tags list": lambda: client.get(f"/v2/{name}/tags/list"),
        "referrers": lambda: client.get(f"/v2/{name}/referrers/{img.digest}"),
        "start upload": lambda: client.post(f"/v2/{name}/blobs/uploads/"),
        "push blob": lambda: client.push_blob(name, fresh),
        "push manifest": lambda: client.push_manifest(name, "pushed", img.manifest, oci.OCI_MANIFEST),
        "delete tag": lambda: client.delete(f"/v2/{name}/manifests/victim"),
        "delete manifest": lambda: client.delete(f"/v2/{name}/manifests/{doomed.digest}"),
    }
    return {label: _answer(call(), name) for label, call in calls.items()}


def expected_status(call: str, right: int | None) -> int:
    if right is None:
        return 401
    if right == 0:
        return 404  # as if the package did not exist
    # A writer may delete a tag (as Bitbucket allows); deleting a manifest by digest takes admin.
    need = 3 if call == "delete manifest" else 2 if call.startswith(("push", "start", "delete")) else 1
    if right < need:
        return 403
    return {"push blob": 201, "push manifest": 201, "start upload": 202, "delete tag": 202,
            "delete manifest": 202}.get(call, 200)


def _catalog(client: OciClient) -> list[str] | int:
    response = client.get("/v2/_catalog")
    return response.json()["repositories"] if response.status_code == 200 else response.status_code


@pytest.mark.parametrize("how", ["basic", "bearer"])
def test_matrix(matrix: Matrix, how: str) -> None:
    world, img = matrix.world, matrix.image
    boss = world.client("admin")
    missing = f"{world.workspace}/does-not-exist"
    failures = []
    for key, principal in matrix.principals.items():
        if how == "basic":
            client = OciClient(world.server.url, principal.credentials)
        else:
            token = bearer_for(world.server, principal.credentials,
                               [f"repository:{world.package}:pull,push,delete",
                                f"repository:{missing}:pull,push,delete", "registry:catalog:*"])
            if token is None:
                assert principal.right is None, f"{key}: the token endpoint refused valid credentials"
                continue
            client = OciClient(world.server.url, token)
        answers = run_calls(client, boss, world.package, img)
        for call, (status, body) in answers.items():
            want = expected_status(call, principal.right)
            if status != want:
                failures.append(f"{key} {how} {call}: {status} (wanted {want}) {body[:200]}")
        if principal.right is None:
            challenge = client.get(f"/v2/{world.package}/tags/list")
            assert challenge.headers["WWW-Authenticate"].startswith('Bearer realm="http://'), key
        if principal.right == 0:
            # No existence leak: the same answers, word for word, as for a package that does not exist.
            assert answers == run_calls(client, boss, missing, img), key
        catalog = _catalog(client)
        if principal.right is None:
            if catalog != 401:
                failures.append(f"{key} {how} catalog: {catalog}")
        elif (world.package in catalog) != (principal.right >= 1):
            failures.append(f"{key} {how} catalog: {catalog}")
    assert not failures, "\n".join(failures)


def test_denials_speak_the_spec(matrix: Matrix) -> None:
    world = matrix.world
    anonymous = world.client(None).get(f"/v2/{world.package}/manifests/v1")
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    challenge = anonymous.headers["WWW-Authenticate"]
    assert f'realm="{world.server.url}/auth/token"' in challenge
    assert f'scope="repository:{world.package}:pull"' in challenge

    reader = world.client("read").push_blob(world.package, b"x")
    assert reader.status_code == 403
    assert reader.json()["errors"][0]["code"] == "DENIED"

    stranger = matrix.principals["no role"]
    hidden = OciClient(world.server.url, stranger.credentials).get(f"/v2/{world.package}/manifests/v1")
    assert hidden.status_code == 404
    assert hidden.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    # Secrets never come back in an answer.
    for principal in matrix.principals.values():
        if principal.credentials:
            answer = OciClient(world.server.url, principal.credentials).get(f"/v2/{world.package}/tags/list")
            assert principal.credentials[1] not in answer.text + str(answer.headers)


def test_push_to_unknown_package_says_how_to_create_it(matrix: Matrix) -> None:
    world = matrix.world
    name = f"{world.workspace}/brand-new"
    response = world.client("admin").push_blob(name, b"data")
    assert response.status_code == 404
    error = response.json()["errors"][0]
    assert error["code"] == "NAME_UNKNOWN"
    assert f"packages-registry package create {name} --type container" in error["message"]
    username, token = world.pipeline_token(world.repository)
    assert OciClient(world.server.url, (username, token)).push_blob(name, b"data").status_code == 404


def test_bearer_token_is_bound_to_its_grant(matrix: Matrix) -> None:
    world = matrix.world
    writer = (world.email("write"), world.tokens["write"])
    pull_only = bearer_for(world.server, writer, [f"repository:{world.package}:pull"])
    client = OciClient(world.server.url, pull_only)
    assert client.get(f"/v2/{world.package}/manifests/v1").status_code == 200
    refused = client.push_blob(world.package, b"more")
    assert refused.status_code == 401
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    # A token for one repository opens no other.
    other = world.new_package("second")
    assert client.get(f"/v2/{other}/tags/list").status_code == 401
    assert client.get(f"/v2/{world.package}/blobs/{digest_of(b'x')}").status_code == 404
