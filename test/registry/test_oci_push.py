"""Blob push, every way the distribution spec allows, over raw HTTP."""

from __future__ import annotations

import os
import re

import requests

from test.registry.conftest import World
from test.support.oci_client import OciClient, digest_of, error_codes


def _assert_blob(world: World, name: str, data: bytes, algorithm: str = "sha256") -> None:
    digest = digest_of(data, algorithm)
    response = world.client("read").get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Docker-Content-Digest"] == digest


def test_monolithic_post_with_digest(world: World) -> None:
    data = os.urandom(5000)
    response = world.client("write").push_blob(world.package, data)
    assert response.status_code == 201, response.text
    digest = digest_of(data)
    assert response.headers["Location"] == f"/v2/{world.package}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    _assert_blob(world, world.package, data)


def test_monolithic_post_with_wrong_digest_stores_nothing(world: World) -> None:
    data = os.urandom(100)
    claimed = digest_of(b"something else")
    response = world.client("write").post(f"/v2/{world.package}/blobs/uploads/", params={"digest": claimed}, data=data)
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    for digest in (claimed, digest_of(data)):
        assert world.client("read").head(f"/v2/{world.package}/blobs/{digest}").status_code == 404


def test_post_then_put(world: World) -> None:
    client, data = world.client("write"), os.urandom(3000)
    response = client.post(f"/v2/{world.package}/blobs/uploads/")
    assert response.status_code == 202
    location = response.headers["Location"]
    assert response.headers["Range"] == "0-0"
    assert response.headers["Docker-Upload-UUID"] in location
    done = client.put(location, params={"digest": digest_of(data)}, data=data,
                      headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest_of(data)
    _assert_blob(world, world.package, data)
    # The session is gone once the blob is committed.
    assert client.get(location).status_code == 404


def test_chunked_patch_with_content_range_status_and_out_of_order(world: World) -> None:
    client, data = world.client("write"), os.urandom(10_000)
    location = client.start_upload(world.package)
    first = client.patch(location, data=data[:4000],
                         headers={"Content-Range": "0-3999", "Content-Type": "application/octet-stream"})
    assert first.status_code == 202, first.text
    assert first.headers["Range"] == "0-3999"
    location = first.headers["Location"]

    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-3999"
    assert status.headers["Location"].endswith(location.rsplit("/", 1)[1])

    # A chunk that does not start where the upload ends is refused with 416 and the current range.
    skipped = client.patch(location, data=data[5000:6000], headers={"Content-Range": "5000-5999"})
    assert skipped.status_code == 416
    assert skipped.headers["Range"] == "0-3999"
    overlap = client.patch(location, data=data[3000:4000], headers={"Content-Range": "3000-3999"})
    assert overlap.status_code == 416
    assert client.get(location).headers["Range"] == "0-3999"

    second = client.patch(location, data=data[4000:9000], headers={"Content-Range": "4000-8999"})
    assert second.status_code == 202
    assert second.headers["Range"] == "0-8999"
    # The last chunk may come with the closing PUT.
    done = client.put(second.headers["Location"], params={"digest": digest_of(data)}, data=data[9000:],
                      headers={"Content-Range": "9000-9999"})
    assert done.status_code == 201, done.text
    _assert_blob(world, world.package, data)


def test_streamed_patch(world: World) -> None:
    client = world.client("write")
    parts = [os.urandom(64 * 1024) for _ in range(20)]
    location = client.start_upload(world.package)
    # A generator body goes out with Transfer-Encoding: chunked and no Content-Length.
    response = client.patch(location, data=iter(parts), headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 202, response.text
    data = b"".join(parts)
    assert response.headers["Range"] == f"0-{len(data) - 1}"
    done = client.put(response.headers["Location"], params={"digest": digest_of(data)})
    assert done.status_code == 201, done.text
    _assert_blob(world, world.package, data)


def test_put_with_wrong_digest_drops_the_session(world: World) -> None:
    client, data = world.client("write"), os.urandom(500)
    location = client.start_upload(world.package)
    response = client.put(location, params={"digest": digest_of(b"other")}, data=data)
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert client.head(f"/v2/{world.package}/blobs/{digest_of(data)}").status_code == 404
    assert client.get(location).status_code == 404


def test_put_without_digest_is_400(world: World) -> None:
    client = world.client("write")
    location = client.start_upload(world.package)
    response = client.put(location, data=b"abc")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


def test_cancel_upload(world: World) -> None:
    client, data = world.client("write"), os.urandom(1000)
    location = client.start_upload(world.package)
    assert client.patch(location, data=data).status_code == 202
    cancelled = client.delete(location)
    assert cancelled.status_code == 204
    gone = client.get(location)
    assert gone.status_code == 404
    assert error_codes(gone) == ["BLOB_UPLOAD_UNKNOWN"]
    assert client.patch(location, data=data).status_code == 404
    assert client.put(location, params={"digest": digest_of(data)}).status_code == 404
    assert client.delete(location).status_code == 404


def test_sha512_blobs(world: World) -> None:
    client = world.client("write")
    data = os.urandom(7000)
    assert client.push_blob(world.package, data, "sha512").status_code == 201
    _assert_blob(world, world.package, data, "sha512")
    # Chunked too.
    other = os.urandom(7000)
    location = client.start_upload(world.package)
    location = client.patch(location, data=other[:3000]).headers["Location"]
    done = client.put(location, params={"digest": digest_of(other, "sha512")}, data=other[3000:])
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest_of(other, "sha512")
    _assert_blob(world, world.package, other, "sha512")


def test_upload_sessions_are_bound_to_their_package(world: World) -> None:
    other = world.new_package("other")
    client = world.client("write")
    location = client.start_upload(world.package)
    stolen = location.replace(world.package, other)
    assert client.get(stolen).status_code == 404
    assert client.patch(stolen, data=b"x").status_code == 404


def test_cross_repository_mount(world: World) -> None:
    client = world.client("write")
    data = os.urandom(2000)
    digest = digest_of(data)
    assert client.push_blob(world.package, data).status_code == 201
    target = world.new_package("mounted")
    mounted = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": world.package})
    assert mounted.status_code == 201, mounted.text
    assert mounted.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert mounted.headers["Docker-Content-Digest"] == digest
    _assert_blob(world, target, data)


def test_mount_from_unreadable_repository_falls_back_to_an_upload(world: World) -> None:
    secret_repo = world.new_repository("secret")
    secret = world.new_package("secret-img", secret_repo)
    owner = world.user(f"owner@{world.workspace}.example.com", {secret_repo: "write"})
    data = os.urandom(2000)
    digest = digest_of(data)
    assert OciClient(world.server.url, (f"owner@{world.workspace}.example.com", owner)).push_blob(
        secret, data).status_code == 201

    client = world.client("write")  # no role on the secret repository
    for source in (secret, f"{world.workspace}/does-not-exist", "not a name"):
        response = client.post(f"/v2/{world.package}/blobs/uploads/", params={"mount": digest, "from": source})
        assert response.status_code == 202, response.text
        assert "/blobs/uploads/" in response.headers["Location"]
    assert client.head(f"/v2/{world.package}/blobs/{digest}").status_code == 404
    # A mount of a blob that the source does not have falls back too.
    response = client.post(f"/v2/{world.package}/blobs/uploads/",
                           params={"mount": digest_of(b"nothing"), "from": world.package})
    assert response.status_code == 202


def test_empty_blob(world: World) -> None:
    client = world.client("write")
    assert client.push_blob(world.package, b"").status_code == 201
    _assert_blob(world, world.package, b"")
    head = world.client("read").head(f"/v2/{world.package}/blobs/{digest_of(b'')}")
    assert head.headers["Content-Length"] == "0"
    location = client.start_upload(world.package)
    assert client.put(location, params={"digest": digest_of(b"")}).status_code == 201


def _bearer(world: World, role: str, scopes: list[str]) -> str:
    response = requests.get(f"{world.server.url}/auth/token", params={"service": "packages-registry",
                                                                      "scope": scopes},
                            auth=(world.email(role), world.tokens[role]), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_mount_with_a_bearer_token_is_challenged_for_the_source(world: World) -> None:
    """A token for the target alone: the mount is answered with a challenge that asks for pull on the
    source too (as distribution does); with a token for both, the blob is mounted (201)."""
    data = os.urandom(2000)
    digest = digest_of(data)
    assert world.client("write").push_blob(world.package, data).status_code == 201
    target = world.new_package("mounted-by-bearer")
    params = {"mount": digest, "from": world.package}
    narrow = OciClient(world.server.url, _bearer(world, "write", [f"repository:{target}:pull,push"]))
    challenged = narrow.post(f"/v2/{target}/blobs/uploads/", params=params)
    assert challenged.status_code == 401, challenged.text
    header = challenged.headers["WWW-Authenticate"]
    scopes = re.search(r'scope="([^"]*)"', header).group(1).split()
    assert f"repository:{world.package}:pull" in scopes and f"repository:{target}:pull,push" in scopes
    assert 'error="insufficient_scope"' in header
    wide = OciClient(world.server.url, _bearer(world, "write", scopes))
    mounted = wide.post(f"/v2/{target}/blobs/uploads/", params=params)
    assert mounted.status_code == 201, mounted.text
    _assert_blob(world, target, data)
    # Someone who may not read the source is not challenged for it: the upload starts instead.
    outsider_repo = world.new_repository("elsewhere")
    outsider_pkg = world.new_package("elsewhere-img", outsider_repo)
    outsider = world.user(f"outsider@{world.workspace}.example.com", {outsider_repo: "write"})
    token = requests.get(f"{world.server.url}/auth/token", timeout=30,
                         params={"scope": f"repository:{outsider_pkg}:pull,push"},
                         auth=(f"outsider@{world.workspace}.example.com", outsider)).json()["token"]
    fallback = OciClient(world.server.url, token).post(f"/v2/{outsider_pkg}/blobs/uploads/", params=params)
    assert fallback.status_code == 202, fallback.text
