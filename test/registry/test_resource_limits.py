"""Limits one client cannot get past: open upload sessions (per credential, per package, idle expiry,
429 + Retry-After) and slow connections (half-sent headers, bodies at a trickle)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from test.registry.conftest import World, build_world
from test.support.oci_client import OciClient, digest_of, error_codes
from test.support.registry_server import start_registry

PER_CREDENTIAL, PER_PACKAGE, IDLE = 3, 5, 3.0


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = start_registry(
        tmp_path_factory.mktemp("limits") / "server",
        "--max-uploads-per-credential", str(PER_CREDENTIAL), "--max-uploads-per-package", str(PER_PACKAGE),
        "--upload-idle-timeout", str(IDLE), "--header-timeout", "2", "--body-timeout", "2",
        "--body-min-rate", "1000")
    yield build_world(server, "limits")
    server.stop()


def _open(client: OciClient, name: str):
    return client.post(f"/v2/{name}/blobs/uploads/")


def test_upload_sessions_are_capped_and_idle_ones_expire(limited: World) -> None:
    world = limited
    other_package = world.new_package("other")
    writer, admin = world.client("write"), world.client("admin")

    sessions = [_open(writer, world.package).headers["Location"] for _ in range(PER_CREDENTIAL)]
    refused = _open(writer, world.package)
    assert refused.status_code == 429
    assert error_codes(refused) == ["TOOMANYREQUESTS"]
    assert 1 <= int(refused.headers["Retry-After"]) <= IDLE + 1
    assert _open(writer, other_package).status_code == 429  # the cap is the credential's, on any package
    # Per package: another user fills what is left of the package's cap, then is refused there.
    for _ in range(PER_PACKAGE - PER_CREDENTIAL):
        assert _open(admin, world.package).status_code == 202
    assert error_codes(_open(admin, world.package)) == ["TOOMANYREQUESTS"]
    assert _open(admin, other_package).status_code == 202  # ... but not elsewhere

    # A session in use does not expire: a chunk every second, longer than the idle timeout.
    data = b"x" * 30
    kept = sessions[0]
    for offset in range(0, 30, 10):
        chunk = writer.patch(kept, data=data[offset:offset + 10],
                             headers={"Content-Range": f"{offset}-{offset + 9}", "Content-Type": "application/octet-stream"})
        assert chunk.status_code == 202, chunk.text
        kept = chunk.headers["Location"]
        time.sleep(IDLE / 2)
    # Meanwhile the unused ones expired: gone, and no longer counted.
    expired = writer.patch(sessions[1], data=b"y", headers={"Content-Type": "application/octet-stream"})
    assert expired.status_code == 404
    assert error_codes(expired) == ["BLOB_UPLOAD_UNKNOWN"]
    assert _open(writer, world.package).status_code == 202
    done = writer.put(kept, params={"digest": digest_of(data)})
    assert done.status_code == 201, done.text


def _closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> bytes:
    """Everything the server sent until it closed the connection, sending ``drip`` a byte per 0.5 s
    meanwhile; fails if it is still open after ``seconds``."""
    sock.settimeout(0.5)
    received, deadline, position = b"", time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            if position < len(drip):
                try:
                    sock.sendall(drip[position:position + 1])
                except OSError:
                    return received
                position += 1
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection is still open after {seconds} s (got {received[:200]!r})")


def test_slow_heads_and_trickling_bodies_are_cut_off(limited: World) -> None:
    address = ("127.0.0.1", limited.server.port)
    # Many half-open heads at once do not stall another user, and all of them are closed.
    crowd = [socket.create_connection(address) for _ in range(50)]
    for sock in crowd:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    assert limited.client("read").get("/v2/").status_code == 200
    assert time.monotonic() - started < 1.0
    for sock in crowd:
        with sock:
            assert _closed_within(sock, 10).startswith(b"HTTP/1.1 408")
    # A connection that sends nothing, and one that sends half a head and then a byte now and then.
    with socket.create_connection(address) as silent:
        assert _closed_within(silent, 10).startswith(b"HTTP/1.1 408")
    with socket.create_connection(address) as slow_head:
        slow_head.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _closed_within(slow_head, 10, drip=b"X-Slow: " + b"a" * 100).startswith(b"HTTP/1.1 408")
    # A body at one byte per half second: closed once the grace has passed, its request never served.
    with socket.create_connection(address) as trickle:
        trickle.sendall(b"POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
        assert b"HTTP/1.1 200" not in _closed_within(trickle, 15, drip=b"grant_type=password&" + b"x" * 900)
    # Meanwhile and after, other clients are served as usual (and kept-alive idle time is not a slow head).
    client = limited.client("read")
    assert client.get("/v2/").status_code == 200
    time.sleep(2.5)
    assert client.get("/v2/").status_code == 200
