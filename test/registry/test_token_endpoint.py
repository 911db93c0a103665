"""The Docker token endpoint: GET with Basic and scopes, offline tokens, POST password and refresh_token grants."""

from __future__ import annotations

import base64
import json
import re

import pytest
import requests

from test.registry.conftest import World, admin
from test.support import oci_client as oci
from test.support.oci_client import OciClient


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def access_of(token: str) -> dict[str, list[str]]:
    return {entry["name"]: entry["actions"] for entry in claims(token)["access"]}


@pytest.fixture
def pushed(world: World) -> World:
    assert world.client("write").push_image(world.package, "v1", oci.image(world.workspace)).status_code == 201
    return world


def token_url(world: World) -> str:
    return f"{world.server.url}/auth/token"


def test_challenge_then_token_then_api(pushed: World) -> None:
    world = pushed
    first = requests.get(f"{world.server.url}/v2/{world.package}/tags/list", timeout=30)
    assert first.status_code == 401
    challenge = dict(re.findall(r'(\w+)="([^"]*)"', first.headers["WWW-Authenticate"]))
    assert challenge["realm"] == token_url(world)
    got = requests.get(challenge["realm"], params={"service": challenge["service"], "scope": challenge["scope"]},
                       auth=(world.email("read"), world.tokens["read"]), timeout=30)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] > 0
    assert "refresh_token" not in body
    assert access_of(body["token"]) == {world.package: ["pull"]}
    tags = OciClient(world.server.url, body["token"]).get(f"/v2/{world.package}/tags/list")
    assert tags.status_code == 200
    assert tags.json()["tags"] == ["v1"]
    assert OciClient(world.server.url, body["token"]).get("/v2/").status_code == 200


def test_several_scopes_and_partial_grants(pushed: World) -> None:
    world = pushed
    second = world.new_package("second")
    hidden_repo = world.new_repository("hidden")
    hidden = world.new_package("hidden", hidden_repo)
    scopes = [f"repository:{world.package}:pull,push", f"repository:{second}:pull,push,delete",
              f"repository:{hidden}:pull registry:catalog:*"]
    for role, expected in (
        ("read", {world.package: ["pull"], second: ["pull"]}),
        ("write", {world.package: ["pull", "push"], second: ["pull", "push", "delete"]}),  # delete: of tags
        ("admin", {world.package: ["pull", "push"], second: ["pull", "push", "delete"]}),
    ):
        got = requests.get(token_url(world), params={"service": "packages-registry", "scope": scopes},
                           auth=(world.email(role), world.tokens[role]), timeout=30)
        assert got.status_code == 200, got.text  # asking for more than allowed is not an error
        access = access_of(got.json()["token"])
        assert access.pop("catalog") == ["*"]
        assert access == expected, role


def test_offline_token_and_refresh(pushed: World) -> None:
    world = pushed
    scope = f"repository:{world.package}:pull"
    got = requests.get(token_url(world), params={"service": "packages-registry", "scope": scope,
                                                 "offline_token": "true", "client_id": "test"},
                       auth=(world.email("write"), world.tokens["write"]), timeout=30)
    refresh = got.json()["refresh_token"]
    assert claims(refresh)["typ"] == "refresh"
    refreshed = requests.post(token_url(world), data={"grant_type": "refresh_token", "refresh_token": refresh,
                                                      "service": "packages-registry", "client_id": "test",
                                                      "scope": f"repository:{world.package}:pull,push"}, timeout=30)
    assert refreshed.status_code == 200, refreshed.text
    token = refreshed.json()["access_token"]
    assert access_of(token) == {world.package: ["pull", "push"]}
    assert OciClient(world.server.url, token).push_blob(world.package, b"via refresh").status_code == 201
    # A refresh token is no access token, and an access token is no refresh token.
    assert OciClient(world.server.url, refresh).get(f"/v2/{world.package}/tags/list").status_code == 401
    wrong = requests.post(token_url(world), data={"grant_type": "refresh_token", "refresh_token": token}, timeout=30)
    assert wrong.status_code == 401


def test_password_grant(pushed: World) -> None:
    world = pushed
    got = requests.post(token_url(world), data={
        "grant_type": "password", "username": world.email("read"), "password": world.tokens["read"],
        "service": "packages-registry", "client_id": "test", "access_type": "offline",
        "scope": f"repository:{world.package}:pull,push"}, timeout=30)
    assert got.status_code == 200, got.text
    assert access_of(got.json()["access_token"]) == {world.package: ["pull"]}
    assert "refresh_token" in got.json()
    bad = requests.post(token_url(world), data={"grant_type": "password", "username": world.email("read"),
                                                "password": "bbpkg_wrong"}, timeout=30)
    assert bad.status_code == 401
    assert "bbpkg_wrong" not in bad.text
    unsupported = requests.post(token_url(world), data={"grant_type": "client_credentials"}, timeout=30)
    assert unsupported.status_code == 400


def test_anonymous_token_has_no_access(pushed: World) -> None:
    world = pushed
    got = requests.get(token_url(world), params={"service": "packages-registry",
                                                 "scope": f"repository:{world.package}:pull"}, timeout=30)
    assert got.status_code == 200
    token = got.json()["token"]
    assert claims(token)["access"] == []
    client = OciClient(world.server.url, token)
    assert client.get(f"/v2/{world.package}/tags/list").status_code == 401
    assert client.get("/v2/_catalog").status_code == 401


def test_bad_credentials_are_401(pushed: World) -> None:
    world = pushed
    for auth in ((world.email("read"), "bbpkg_nope"), ("nobody@example.com", world.tokens["read"])):
        got = requests.get(token_url(world), params={"scope": f"repository:{world.package}:pull"}, auth=auth,
                           timeout=30)
        assert got.status_code == 401
    garbled = requests.get(token_url(world), headers={"Authorization": "Basic !!!"}, timeout=30)
    assert garbled.status_code == 401


def test_revoking_the_api_token_ends_its_bearer_and_refresh_tokens(world: World) -> None:
    email = f"leaver@{world.workspace}.example.com"
    secret = world.user(email, {world.repository: "write"})
    got = requests.get(token_url(world), params={"scope": f"repository:{world.package}:pull",
                                                 "offline_token": "true"}, auth=(email, secret), timeout=30)
    bearer, refresh = got.json()["token"], got.json()["refresh_token"]
    assert OciClient(world.server.url, bearer).get(f"/v2/{world.package}/tags/list").status_code == 200
    admin(world.server, "token", "revoke", admin(world.server, "token", "list", email).split("\t")[0])
    assert OciClient(world.server.url, bearer).get(f"/v2/{world.package}/tags/list").status_code == 401
    again = requests.post(token_url(world), data={"grant_type": "refresh_token", "refresh_token": refresh}, timeout=30)
    assert again.status_code == 401


def test_pipeline_token_at_the_token_endpoint(pushed: World) -> None:
    world = pushed
    username, secret = world.pipeline_token(world.repository)
    got = requests.get(token_url(world), params={"scope": f"repository:{world.package}:pull,push,delete"},
                       auth=(username, secret), timeout=30)
    assert access_of(got.json()["token"]) == {world.package: ["pull", "push", "delete"]}  # of tags only


@pytest.mark.parametrize(("body", "content_type"), [
    (b"grant_type=password&username=\xff\xfe&password=x", "application/x-www-form-urlencoded; charset=utf-8"),
    (b"\xff\xfe\xfd", "application/x-www-form-urlencoded"),
    (b"--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\npassword\r\n--x--\r\n",
     "multipart/form-data"),
])
def test_unreadable_token_forms_are_400(world: World, body: bytes, content_type: str) -> None:
    response = requests.post(token_url(world), data=body, headers={"Content-Type": content_type}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "Traceback" not in world.server.log_path.read_text(errors="replace")[-20000:]
