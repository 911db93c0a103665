"""Blob pull: GET and HEAD with the spec's headers, ranges (206/416), unknown blobs."""

from __future__ import annotations

import os

import pytest

from test.registry.conftest import World
from test.support.oci_client import digest_of, error_codes


@pytest.fixture
def pushed(world: World) -> tuple[World, bytes, str]:
    data = os.urandom(10_000)
    assert world.client("write").push_blob(world.package, data).status_code == 201
    return world, data, digest_of(data)


def test_get_and_head(pushed: tuple[World, bytes, str]) -> None:
    world, data, digest = pushed
    client = world.client("read")
    got = client.get(f"/v2/{world.package}/blobs/{digest}")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Docker-Content-Digest"] == digest
    assert got.headers["Content-Length"] == str(len(data))
    head = client.head(f"/v2/{world.package}/blobs/{digest}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, 9999), ("bytes=-10", 9990, 9999), ("bytes=9000-20000", 9000, 9999),
])
def test_range(pushed: tuple[World, bytes, str], header: str, start: int, end: int) -> None:
    world, data, digest = pushed
    response = world.client("read").get(f"/v2/{world.package}/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == data[start:end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"


@pytest.mark.parametrize("header", ["bytes=10000-", "bytes=20000-20010"])
def test_unsatisfiable_range(pushed: tuple[World, bytes, str], header: str) -> None:
    world, data, digest = pushed
    response = world.client("read").get(f"/v2/{world.package}/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


def test_unknown_blob(world: World) -> None:
    client = world.client("read")
    digest = digest_of(b"never pushed")
    response = client.get(f"/v2/{world.package}/blobs/{digest}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]
    assert client.head(f"/v2/{world.package}/blobs/{digest}").status_code == 404


def test_blob_of_another_package_is_not_served(pushed: tuple[World, bytes, str]) -> None:
    world, _, digest = pushed
    other = world.new_package("other")
    response = world.client("admin").get(f"/v2/{other}/blobs/{digest}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]
