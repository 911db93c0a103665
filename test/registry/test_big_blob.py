"""A ~200 MB blob pushed and pulled through a server whose peak memory stays far below the blob size."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from test.registry.conftest import World, build_world
from test.support.registry_server import start_registry

SIZE = 200 * 1024 * 1024
PIECE = 1024 * 1024


def pieces() -> Iterator[bytes]:
    # Deterministic, incompressible enough, and never whole in the test's memory either.
    seed = hashlib.sha256(b"big blob").digest() * (PIECE // 32)
    for i in range(SIZE // PIECE):
        yield bytes([i % 251]) + seed[1:]


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture
def big_world(tmp_path: Path, unique: str) -> Iterator[World]:
    server = start_registry(tmp_path / "big")
    yield build_world(server, unique)
    server.stop()


def test_push_and_pull_200mb_with_flat_memory(big_world: World) -> None:
    world = big_world
    hasher = hashlib.sha256()
    for piece in pieces():
        hasher.update(piece)
    digest = f"sha256:{hasher.hexdigest()}"
    client = world.client("write")

    # Monolithic, streamed (chunked transfer encoding).
    pushed = client.post(f"/v2/{world.package}/blobs/uploads/", params={"digest": digest}, data=pieces())
    assert pushed.status_code == 201, pushed.text

    # Chunked upload of the same bytes into another package, in 50 MB PATCHes.
    other = world.new_package("other")
    location = client.start_upload(other)
    buffer, offset = [], 0
    for piece in pieces():
        buffer.append(piece)
        if len(buffer) == 50:
            chunk = b"".join(buffer)
            response = client.patch(location, data=chunk,
                                    headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
            assert response.status_code == 202, response.text
            location, offset, buffer = response.headers["Location"], offset + len(chunk), []
            del chunk
    assert client.put(location, params={"digest": digest}).status_code == 201

    with client.get(f"/v2/{world.package}/blobs/{digest}", stream=True) as pulled:
        assert pulled.status_code == 200
        assert int(pulled.headers["Content-Length"]) == SIZE
        check = hashlib.sha256()
        for chunk in pulled.iter_content(PIECE):
            check.update(chunk)
    assert f"sha256:{check.hexdigest()}" == digest

    peak = peak_rss_kib(world.server.process.pid)
    assert peak < 120 * 1024, f"server peak RSS {peak} KiB for a {SIZE // PIECE} MiB blob"
