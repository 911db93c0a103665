"""The Host header makes token realms, npm tarball URLs and page links when --public-url is not set:
anything but host[:port] is refused before it is used."""

from __future__ import annotations

import json
import socket

from test.registry.conftest import World

INJECTED = 'evil.example", x="y'


def raw_request(host: str, port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    """One request with exactly these headers (http.client would add a Host of its own)."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{key}: {value}" for key, value in headers.items()), "Connection: close"]
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), parsed, body


def test_a_host_header_that_is_not_host_port_is_refused_everywhere(world: World) -> None:
    port = world.server.port
    status, headers, body = raw_request("127.0.0.1", port, "GET", "/v2/", {"Host": INJECTED})
    assert status == 400
    assert "WWW-Authenticate" not in headers
    assert json.loads(body)["errors"][0]["message"] == "invalid Host header"
    for path in (f"/npm/{world.workspace}/some-package", "/signin", "/auth/token", f"/maven/{world.workspace}/x"):
        for host in (INJECTED, "a b", "x/y", "user@host", "host:port"):
            status, headers, _ = raw_request("127.0.0.1", port, "GET", path, {"Host": host})
            assert status == 400, (path, host)
    # A proper Host still makes the realm, quoted and whole.
    for host in (f"registry.example:{port}", f"[::1]:{port}", "registry.example"):
        status, headers, _ = raw_request("127.0.0.1", port, "GET", "/v2/", {"Host": host})
        assert status == 401
        assert headers["WWW-Authenticate"].startswith(f'Bearer realm="http://{host}/auth/token",service=')
