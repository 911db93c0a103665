"""Maven repository requests as a deploy client makes them, for the tests that check each answer."""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass

import requests

Auth = tuple[str, str] | None


@dataclass
class MavenHttp:
    server_url: str
    workspace: str
    auth: Auth = None

    @property
    def base(self) -> str:
        return f"{self.server_url}/maven/{self.workspace}/"

    def as_(self, auth: Auth) -> MavenHttp:
        return MavenHttp(self.server_url, self.workspace, auth)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base + path, auth=self.auth, timeout=30, **kwargs)

    def head(self, path: str) -> requests.Response:
        return requests.head(self.base + path, auth=self.auth, timeout=30)

    def put(self, path: str, data: bytes, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.put(self.base + path, data=data, auth=self.auth, headers=headers, timeout=30)

    def deploy(self, path: str, data: bytes) -> None:
        """PUT a file and its sha1 and md5, as mvn does; raise on any refusal."""
        for suffix, body in (("", data), (".sha1", hashlib.sha1(data).hexdigest().encode()),
                             (".md5", hashlib.md5(data).hexdigest().encode())):
            response = self.put(path + suffix, body)
            assert response.status_code in (200, 201), (path + suffix, response.status_code, response.text)


def artifact_path(group: str, artifact: str, version: str, suffix: str = ".jar") -> str:
    return f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}{suffix}"


def put_with_expect(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> tuple[str, bytes]:
    """A PUT that announces ``Expect: 100-continue`` and waits for the server's first answer before
    sending the body (as mvn does). Returns (first status line, the rest of what the server sent)."""
    with socket.create_connection((host, port), timeout=10) as sock:
        head = [f"PUT {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
                "Expect: 100-continue", *(f"{key}: {value}" for key, value in headers.items())]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        first = _read_head(sock)
        status_line = first.split(b"\r\n", 1)[0].decode()
        if " 100 " not in status_line + " ":
            return status_line, first
        sock.sendall(body)
        return status_line, _read_head(sock)


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
