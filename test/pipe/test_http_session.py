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


def _self_signed(directory) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .sign(key, hashes.SHA256()))
    cert, private = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(cert), str(private)


def test_tls_is_verified_unless_insecure(tmp_path) -> None:
    import ssl

    from pipe.oci.session import HttpFailure

    handler = type("Handler", (Recorder,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed(tmp_path))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://localhost:{server.server_address[1]}/v2/"
    try:
        with pytest.raises(HttpFailure):  # a certificate no CA of certifi's bundle signed
            Session().request("GET", url)
        insecure = Session(verify=False)
        assert insecure.request("PUT", url, data=b"over tls").content == b"got 8 bytes"
        assert insecure.request("PATCH", url, data=iter([b"a" * 5000, b"b"])).content == b"got 5001 bytes"
        assert [item["body"] for item in handler.seen] == [b"over tls", b"a" * 5000 + b"b"]
    finally:
        server.shutdown()
        server.server_close()
