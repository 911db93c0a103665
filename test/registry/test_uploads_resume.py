"""Interrupted uploads: a dropped connection, a server restart and a crash, each followed by a resume."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import requests

from test.registry.conftest import World, build_world
from test.support.cutting_proxy import CuttingProxy
from test.support.oci_client import OciClient, digest_of
from test.support.registry_server import RegistryServer, start_registry


def _offset(client: OciClient, location: str) -> int:
    """The next byte to send, from the upload's Range (0-N: N+1 bytes are in)."""
    status = client.get(location)
    assert status.status_code == 204, status.text
    match = re.fullmatch(r"0-(\d+)", status.headers["Range"])
    assert match, status.headers["Range"]
    return int(match.group(1)) + 1


def _verify(world: World, client: OciClient, data: bytes) -> None:
    got = client.get(f"/v2/{world.package}/blobs/{digest_of(data)}")
    assert got.status_code == 200
    assert got.content == data


def test_dropped_connection_then_resume(world: World) -> None:
    client = world.client("write")
    data = os.urandom(3 * 1024 * 1024)
    location = client.start_upload(world.package)
    # The link stalls before it drops: dropped at once, it may take with it the bytes the server had not
    # read yet (aiohttp drops a request's unread body when its connection goes), and nothing is kept.
    with CuttingProxy("127.0.0.1", world.server.port, cut_after=1024 * 1024 + 5000, stall=2.0) as proxy:
        cut = OciClient(proxy.url, client.session.auth)
        with pytest.raises(requests.ConnectionError):
            cut.patch(location, data=data, headers={"Content-Type": "application/octet-stream"})
    # The cut request may still be on its way to the session (its credentials being checked) when the
    # client asks: the answer is then the bytes before it (none), and the next one counts what it wrote.
    deadline = time.monotonic() + 10
    while (offset := _offset(client, location)) <= 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 1 < offset < len(data)
    rest = client.patch(location, data=data[offset:], headers={"Content-Range": f"{offset}-{len(data) - 1}"})
    assert rest.status_code == 202, rest.text
    done = client.put(rest.headers["Location"], params={"digest": digest_of(data)})
    assert done.status_code == 201, done.text
    _verify(world, client, data)


def test_dropped_monolithic_push_leaves_nothing(world: World) -> None:
    client = world.client("write")
    data = os.urandom(2 * 1024 * 1024)
    with CuttingProxy("127.0.0.1", world.server.port, cut_after=512 * 1024) as proxy, \
            pytest.raises(requests.ConnectionError):
        OciClient(proxy.url, client.session.auth).push_blob(world.package, data)
    assert client.head(f"/v2/{world.package}/blobs/{digest_of(data)}").status_code == 404
    # The server is fine and takes the same push whole.
    assert client.push_blob(world.package, data).status_code == 201
    _verify(world, client, data)


@pytest.fixture
def own_server(tmp_path: Path) -> RegistryServer:
    server = start_registry(tmp_path / "restart")
    yield server
    server.stop()


def test_upload_survives_restart_and_crash(own_server: RegistryServer, unique: str) -> None:
    world = build_world(own_server, unique)
    client = world.client("write")
    data = os.urandom(600_000)
    location = client.start_upload(world.package)
    assert client.patch(location, data=data[:200_000], headers={"Content-Range": "0-199999"}).status_code == 202

    own_server.restart()
    assert client.get(location).headers["Range"] == "0-199999"
    assert client.patch(location, data=data[200_000:400_000],
                        headers={"Content-Range": "200000-399999"}).status_code == 202

    # A crash (SIGKILL) mid-upload: nothing becomes visible, and the session is still there to finish.
    own_server.process.kill()
    own_server.process.wait()
    own_server.start()
    assert client.head(f"/v2/{world.package}/blobs/{digest_of(data)}").status_code == 404
    assert client.head(f"/v2/{world.package}/blobs/{digest_of(data[:400_000])}").status_code == 404
    assert client.get(location).headers["Range"] == "0-399999"
    done = client.put(location, params={"digest": digest_of(data)}, data=data[400_000:],
                      headers={"Content-Range": f"400000-{len(data) - 1}"})
    assert done.status_code == 201, done.text
    _verify(world, client, data)
