"""The OCI transport's HTTP (pipe/oci/session.py) against real HTTP/1.1 servers on loopback: what a
registry's storage elsewhere would see of a redirect, kept-alive connections, and a streamed body.

The bundled registry never redirects, so two plain stdlib servers stand in for "the registry" and "the
storage host it sends a download to": only what arrives at them is asserted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipe.oci.session import ConnectFailed, Session


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    seen: list[dict]
    redirect_to: str = ""

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().strip(), 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self) -> None:
        body = self._body()
        self.seen.append({"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"),
                          "body": body, "connection": id(self.connection)})
        if self.path.startswith("/away") and self.redirect_to:
            self.send_response(307)
            self.send_header("Location", self.redirect_to + "/landed")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = b"got %d bytes" % len(body)
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_PATCH = do_PUT = _answer


@pytest.fixture
def servers() -> Iterator[tuple[str, list[dict], str, list[dict]]]:
    started = []
    for _ in range(2):
        handler = type("Handler", (Recorder,), {"seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((server, handler))
    (first, first_handler), (second, second_handler) = started
    other = f"http://127.0.0.1:{second.server_address[1]}"
    first_handler.redirect_to = other
    try:
        yield f"http://127.0.0.1:{first.server_address[1]}", first_handler.seen, other, second_handler.seen
    finally:
        for server, _ in started:
            server.shutdown()
            server.server_close()


def test_a_redirect_to_another_host_does_not_take_the_credentials_along(servers) -> None:
    registry, at_registry, _, elsewhere = servers
    session = Session()
    response = session.request("GET", f"{registry}/away", headers={"Authorization": "Bearer secret-token"})
    assert response.status_code == 200 and response.content == b"got 0 bytes"
    assert at_registry[0]["auth"] == "Bearer secret-token"
    assert elsewhere == [{"method": "GET", "path": "/landed", "auth": None, "body": b"",
                          "connection": elsewhere[0]["connection"]}]


def test_connections_are_kept_alive_and_bodies_arrive_whole(servers) -> None:
    registry, seen, _, _ = servers
    session = Session(blocksize=1000)
    chunks = [bytes([n]) * (3000 + n) for n in range(5)]
    streamed = session.request("PATCH", f"{registry}/upload", data=iter(chunks))
    assert streamed.content == b"got %d bytes" % sum(map(len, chunks))
    assert session.request("PUT", f"{registry}/upload?digest=x", data=b"tail").content == b"got 4 bytes"
    assert session.request("GET", f"{registry}/manifest", params={"n": "1"}).status_code == 200
    assert [item["body"] for item in seen] == [b"".join(chunks), b"tail", b""]
    assert seen[2]["path"] == "/manifest?n=1"
    assert len({item["connection"] for item in seen}) == 1  # one connection for all three


def test_a_closed_port_is_a_connection_failure() -> None:
    with pytest.raises(ConnectFailed, match="connection refused"):
        Session().request("GET", "http://127.0.0.1:9/v2/")
