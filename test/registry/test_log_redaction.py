"""Credentials in a request the server cannot parse never reach its log."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from test.support.registry_server import start_registry


def test_oversized_authorization_header_is_refused_and_not_logged(tmp_path: Path) -> None:
    server = start_registry(tmp_path / "redaction")
    secret = "SECRETTOKENBYTES" * 1000  # longer than aiohttp's header line limit
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(f"GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {secret}\r\n\r\n".encode())
            assert sock.recv(100).split(b"\r\n")[0].endswith(b"400 Bad Request")
        time.sleep(0.2)  # the log line is written after the answer
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "malformed HTTP request" in log
    assert "SECRETTOKEN" not in log
