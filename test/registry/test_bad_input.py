"""Bad input: invalid names and tags, path traversal, wrong and malformed digests, broken and oversized
manifests. Each gets the spec's error, nothing is stored, and nothing is a 5xx."""

from __future__ import annotations

import base64
import json
import os

import pytest

from test.registry.conftest import World
from test.support import oci_client as oci
from test.support.oci_client import digest_of, error_codes, raw_request

GOOD_DIGEST = digest_of(b"x")


def _raw(world: World, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    auth = world.client("admin").session.auth
    basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    host, port = world.server.host.split(":")
    return raw_request(host, int(port), method, path, {"Authorization": f"Basic {basic}", **(headers or {})}, body)


TRAVERSALS = [
    "/v2/{ws}/../{ws}/app/manifests/latest",
    "/v2/{ws}/%2e%2e/{ws}/app/manifests/latest",
    "/v2/{ws}/app/manifests/..",
    "/v2/{ws}/app/manifests/%2e%2e",
    "/v2/{ws}/app/manifests/..%2f..%2fetc%2fpasswd",
    "/v2/{ws}/app/manifests/%2fetc%2fpasswd",
    "/v2/{ws}%2fapp/manifests/latest",
    "/v2/{ws}/app%2f..%2f..%2fother/tags/list",
    "/v2//etc/passwd/manifests/latest",
    "/v2/{ws}/app/blobs/sha256:..%2f..%2f..%2fmetadata.db",
    "/v2/{ws}/app/blobs/sha256%3a..%2f..%2fsigning.key",
    "/v2/{ws}/app/blobs/..%2f..%2fsigning.key",
    "/v2/{ws}/app/blobs/%2fetc%2fpasswd",
    "/v2/{ws}/app/blobs/uploads/..%2f..%2fsigning.key",
    "/v2/{ws}/app/blobs/uploads/%2e%2e",
    "/v2/{ws}/app/referrers/sha256:..%2f..",
    "/v2/%2e%2e/%2e%2e/signing.key",
    "/v2/{ws}/APP/tags/list",
]


@pytest.mark.parametrize("template", TRAVERSALS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_path_traversal_is_refused(world: World, template: str, method: str) -> None:
    path = template.format(ws=world.workspace)
    body = b'{"schemaVersion": 2}' if method in ("PUT", "PATCH") else None
    status, headers, content = _raw(world, method, path, body)
    assert 400 <= status < 500, (path, status, content[:300])
    assert b"signing" not in content and b"root:" not in content and b"SQLite" not in content
    if headers.get("Content-Type", "").startswith("application/json") and content:
        assert json.loads(content)["errors"][0]["code"]


@pytest.mark.parametrize("name", ["UPPER/case", "acme", "acme/-lead", "acme/trail-", "acme/a..b", "acme//double",
                                  "acme/" + "x" * 300, "acme/sp ace", "acme/ümlaut"])
def test_invalid_names(world: World, name: str) -> None:
    response = world.client("admin").get(f"/v2/{name}/tags/list")
    assert response.status_code in (400, 404), response.text
    if response.status_code == 400:
        assert error_codes(response) == ["NAME_INVALID"]
    response = world.client("admin").post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code in (400, 404)


@pytest.mark.parametrize("tag", ["-leading", ".dot", "x" * 129, "has+plus", "semi;colon", "t@g"])
def test_invalid_tags(world: World, tag: str) -> None:
    client = world.client("admin")
    img = oci.image(world.workspace)
    put = client.push_image(world.package, tag, img)
    assert put.status_code == 400, put.text
    assert error_codes(put) == ["TAG_INVALID"]
    # A tag that cannot exist is simply unknown to a read or a delete (only a push is told it is invalid),
    # and a HEAD error carries the Content-Length of the GET's body.
    get = client.get(f"/v2/{world.package}/manifests/{tag}")
    assert get.status_code == 404 and error_codes(get) == ["MANIFEST_UNKNOWN"]
    head = client.head(f"/v2/{world.package}/manifests/{tag}")
    assert head.status_code == 404 and head.headers["Content-Length"] == str(len(get.content))
    assert client.get(f"/v2/{world.package}/tags/list").json()["tags"] == []


def test_spec_conformance_invalid_manifest_name(world: World) -> None:
    client = world.client("admin")
    for method in ("GET", "HEAD"):
        response = client.request(method, f"/v2/{world.package}/manifests/.INVALID_MANIFEST_NAME")
        assert response.status_code == 404
        assert int(response.headers["Content-Length"]) > 0
    head = client.head(f"/v2/{world.package}/blobs/{GOOD_DIGEST}")
    assert head.status_code == 404 and int(head.headers["Content-Length"]) > 0


@pytest.mark.parametrize("n", ["%C2%B2", "%C2%B3", "%D9%A3", "-1", "1e3", "", "0x10", "1%0A"])
def test_page_sizes_that_are_not_ascii_digits(world: World, n: str) -> None:
    client = world.client("admin")
    for path in (f"/v2/{world.package}/tags/list?n={n}", f"/v2/_catalog?n={n}"):
        response = client.get(path)
        assert response.status_code == 400, (path, response.text)
        assert error_codes(response) == ["PAGINATION_NUMBER_INVALID"]


def test_page_size_with_thousands_of_digits_is_the_largest_page(world: World) -> None:
    response = world.client("admin").get(f"/v2/{world.package}/tags/list?n={'9' * 5000}")
    assert response.status_code == 200, response.text


def test_descriptor_size_beyond_int64_is_refused(world: World) -> None:
    client = world.client("admin")
    img = oci.image(world.workspace + " huge size")
    for blob in img.blobs.values():
        client.push_blob(world.package, blob)
    for size in (10**400, 2**63):
        body = img.manifest.replace(b'"size":' + str(len(img.blobs[next(iter(img.blobs))])).encode(),
                                    b'"size":' + str(size).encode(), 1)
        assert body != img.manifest
        response = client.push_manifest(world.package, "huge-size", body, oci.OCI_MANIFEST)
        assert response.status_code == 400, response.text
        assert error_codes(response) == ["MANIFEST_INVALID"]
    assert client.get(f"/v2/{world.package}/manifests/huge-size").status_code == 404
    page = client.get(f"/{world.workspace}/code/packages/container/app")
    assert page.status_code == 200


@pytest.mark.parametrize("digest", [
    "sha256:abc", "sha256:" + "G" * 64, "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha512:" + "a" * 64,
    "sha256:" + "a" * 65, ":", "sha256:", "sha384:" + "a" * 96,
])
def test_malformed_digests_are_400(world: World, digest: str) -> None:
    client = world.client("admin")
    name = world.package
    for response in (
        client.get(f"/v2/{name}/blobs/{digest}"),
        client.delete(f"/v2/{name}/blobs/{digest}"),
        client.get(f"/v2/{name}/manifests/{digest}"),
        client.get(f"/v2/{name}/referrers/{digest}"),
        client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, data=b"x"),
        client.put(client.start_upload(name), params={"digest": digest}, data=b"x"),
    ):
        assert response.status_code == 400, (response.request.method, response.url, response.text)
        assert error_codes(response) in (["DIGEST_INVALID"], ["TAG_INVALID"])
    assert client.head(f"/v2/{name}/blobs/{digest}").status_code == 400


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'"string"', b"{}", b'{"schemaVersion": 1}', b"\xff\xfe\x00",
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}',
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {}, "layers": []}',
    (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", '
    b'"config": {"mediaType": "x", "digest": "sha256:zz", "size": 1}, "layers": []}'),
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [1]}',
    b'{"schemaVersion": 2, "mediaType": "text/plain"}',
    b"[" * 100000 + b"]" * 100000,
    b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": '
    b'{"mediaType": "x", "digest": "sha256:' + b"a" * 64 + b'", "size": -1}, "layers": []}',
])
def test_malformed_manifests(world: World, body: bytes) -> None:
    client = world.client("admin")
    response = client.push_manifest(world.package, "bad", body, oci.OCI_MANIFEST)
    assert response.status_code == 400, response.text
    assert error_codes(response) == ["MANIFEST_INVALID"]
    assert client.get(f"/v2/{world.package}/manifests/bad").status_code == 404


def test_media_type_mismatch(world: World) -> None:
    client = world.client("admin")
    img = oci.image(world.workspace)
    for blob in img.blobs.values():
        client.push_blob(world.package, blob)
    response = client.push_manifest(world.package, "mismatch", img.manifest, oci.DOCKER_MANIFEST)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_INVALID"]


def test_oversized_manifest_is_413(world: World) -> None:
    client = world.client("admin")
    img = oci.image(world.workspace)
    for blob in img.blobs.values():
        client.push_blob(world.package, blob)
    document = json.loads(img.manifest)
    document["annotations"] = {"padding": "x" * (4 * 1024 * 1024 + 10)}
    body = json.dumps(document).encode()
    response = client.push_manifest(world.package, "huge", body, oci.OCI_MANIFEST)
    assert response.status_code == 413, response.text
    assert error_codes(response) == ["SIZE_INVALID"]
    # Streamed with no Content-Length, the limit holds too.
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
    streamed = client.put(f"/v2/{world.package}/manifests/huge", data=chunks,
                          headers={"Content-Type": oci.OCI_MANIFEST})
    assert streamed.status_code == 413
    assert client.get(f"/v2/{world.package}/manifests/huge").status_code == 404
    # And the server is still well.
    assert client.push_manifest(world.package, "fine", img.manifest, oci.OCI_MANIFEST).status_code == 201


def test_malformed_content_range_and_pagination(world: World) -> None:
    client = world.client("admin")
    location = client.start_upload(world.package)
    for value in ("bytes=0-10", "10-5", "abc", "-1-5", "0-99999999999999999999999"):
        response = client.patch(location, data=b"x" * 11, headers={"Content-Range": value})
        assert response.status_code in (400, 416), (value, response.text)
    # A streamed chunk (no Content-Length) shorter than its Content-Range says is dropped whole.
    short = client.patch(location, data=iter([b"y" * 50]), headers={"Content-Range": "0-99"})
    assert short.status_code == 416
    assert client.get(location).headers["Range"] == "0-0"
    assert client.get(location).status_code == 204
    data = os.urandom(100)
    assert client.patch(location, data=data, headers={"Content-Range": "0-99"}).status_code == 202
    assert client.put(location, params={"digest": digest_of(data)}).status_code == 201
    for n in ("abc", "-5", "1e3", "99999999999999999999999999"):
        response = client.get(f"/v2/{world.package}/tags/list", params={"n": n})
        assert response.status_code in (200, 400), (n, response.text)


def test_unknown_upload_ids(world: World) -> None:
    client = world.client("admin")
    for upload in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "..", "a" * 500):
        response = client.patch(f"/v2/{world.package}/blobs/uploads/{upload}", data=b"x")
        assert response.status_code == 404, (upload, response.text)
        assert error_codes(response) in (["BLOB_UPLOAD_UNKNOWN"], ["NOT_FOUND"])


def test_unsupported_methods(world: World) -> None:
    client = world.client("admin")
    for method, path in (("POST", f"/v2/{world.package}/manifests/latest"),
                         ("PUT", f"/v2/{world.package}/tags/list"),
                         ("PATCH", f"/v2/{world.package}/blobs/{GOOD_DIGEST}")):
        response = client.request(method, path, data=b"x")
        assert response.status_code in (404, 405), (method, path, response.text)


def test_garbage_authorization_headers(world: World) -> None:
    for header in ("Basic", "Basic !!!", "Basic " + "YQ==", "Bearer", "Bearer a.b.c", "Negotiate xyz",
                   "Basic " + "eA==" * 5000):
        response = world.client(None).get(f"/v2/{world.package}/tags/list", headers={"Authorization": header})
        assert response.status_code in (400, 401), (header, response.status_code)


def test_nothing_was_stored(world: World) -> None:
    """After a storm of bad pushes, the package is as empty as it started."""
    client = world.client("admin")
    for body in (b"not json", os.urandom(100)):
        client.push_manifest(world.package, "bad", body, oci.OCI_MANIFEST)
        client.post(f"/v2/{world.package}/blobs/uploads/", params={"digest": GOOD_DIGEST}, data=body)
    assert client.get(f"/v2/{world.package}/tags/list").json()["tags"] == []
    assert client.head(f"/v2/{world.package}/blobs/{GOOD_DIGEST}").status_code == 404
