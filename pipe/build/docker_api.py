"""The docker engine's HTTP API over http.client, for what a push asks of it: inspect and save.

The docker SDK (with requests under it) costs a warm re-push more to import than all of its requests
take; builds and pulls still go through the SDK (pipe/build/engine.py). DOCKER_HOST, DOCKER_TLS_VERIFY
and DOCKER_CERT_PATH are read as the SDK and the docker CLI read them: ``unix://`` sockets, and
``tcp://`` with TLS when either TLS variable is set (client certificate and CA from DOCKER_CERT_PATH,
default ``~/.docker``; the server is verified only with DOCKER_TLS_VERIFY).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_HOST = "unix:///var/run/docker.sock"
MAX_JSON = 16 * 1024 * 1024


class EngineUnreachable(Exception):
    """The engine could not be reached (no socket, connection refused, TLS failure, a dropped connection)."""


class EngineRefused(Exception):
    """The engine answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class EngineAPI:
    def __init__(self, env: Mapping[str, str] | None = None, timeout: float = 600.0) -> None:
        env = os.environ if env is None else env
        self.host = env.get("DOCKER_HOST") or DEFAULT_HOST
        self.timeout = timeout
        parts = urlsplit(self.host)
        self._unix_path = parts.path if parts.scheme == "unix" else None
        if self._unix_path is None and parts.scheme not in ("tcp", "http", "https"):
            raise EngineUnreachable(f"DOCKER_HOST {self.host} is neither unix:// nor tcp://")
        verify_text = env.get("DOCKER_TLS_VERIFY")
        verify = verify_text is not None and verify_text != ""
        cert_path = env.get("DOCKER_CERT_PATH") or ""
        self._tls = bool(verify or cert_path or parts.scheme == "https")
        self._netloc = parts.hostname or "localhost"
        self._port = parts.port or (2376 if self._tls else 2375)
        self._context = None
        if self._tls and self._unix_path is None:
            import ssl

            directory = cert_path or os.path.join(os.path.expanduser("~"), ".docker")
            if verify:
                context = ssl.create_default_context(cafile=os.path.join(directory, "ca.pem"))
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
            if os.path.exists(cert) and os.path.exists(key):
                context.load_cert_chain(cert, key)
            self._context = context

    def _connect(self) -> http.client.HTTPConnection:
        if self._unix_path is not None:
            return _UnixConnection(self._unix_path, self.timeout)
        if self._context is not None:
            return http.client.HTTPSConnection(self._netloc, self._port, timeout=self.timeout, context=self._context)
        return http.client.HTTPConnection(self._netloc, self._port, timeout=self.timeout)

    def open(self, method: str, path: str) -> http.client.HTTPResponse:
        """The engine's answer to ``method path``, to read; the connection closes with it. Raises
        EngineRefused for an error status, EngineUnreachable when there is no answer."""
        connection = self._connect()
        try:
            connection.request(method, path, headers={"Host": "docker"})
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise EngineUnreachable(f"{type(exc).__name__}: {exc}") from None
        if response.status >= 400:
            try:
                body = response.read(MAX_JSON)
            except (OSError, http.client.HTTPException):
                body = b""
            connection.close()
            raise EngineRefused(response.status, _message(body) or f"the engine answered {response.status}")
        return response

    def get_json(self, path: str) -> Any:
        response = self.open("GET", path)
        try:
            body = response.read(MAX_JSON + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise EngineUnreachable(f"{type(exc).__name__}: {exc}") from None
        finally:
            response.close()
        if len(body) > MAX_JSON:
            raise EngineRefused(response.status, "the engine's answer is too large")
        try:
            return json.loads(body)
        except ValueError:
            raise EngineRefused(response.status, "the engine's answer is not JSON") from None

    def inspect_image(self, image: str) -> dict[str, Any]:
        data = self.get_json(f"/images/{quote(image, safe='')}/json")
        if not isinstance(data, dict):
            raise EngineRefused(200, "the engine's image record is not an object")
        return data

    def save(self, image: str) -> http.client.HTTPResponse:
        """``docker save`` of one image: a tar stream to read."""
        return self.open("GET", f"/images/{quote(image, safe='')}/get")


def _message(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:500]
    return str(document.get("message", ""))[:500] if isinstance(document, dict) else ""
