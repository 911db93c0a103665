"""HTTP/1.1 for the OCI transport, over the standard library's http.client.

requests (with urllib3, charset_normalizer, idna and cookie handling under it) took longer to import
than a warm re-push's every request; what the registry protocol needs of it is this: keep-alive
connections per host (one pool per thread, as the transport keeps one session per thread), separate
connect and read timeouts, TLS verified against certifi's bundle as requests verifies, request bodies
as bytes or files (sent in large blocks), responses read whole or as streams, and redirects followed
(without the Authorization header when they leave the host: blob downloads go to storage elsewhere).
No proxies and no .netrc, as the transport asked of requests.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
from collections.abc import Iterable
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 30
MAX_IDLE = 8  # kept-alive connections per host


class HttpFailure(Exception):
    """No answer: the connection could not be made, broke, or timed out."""


class ConnectFailed(HttpFailure):
    pass


class TimedOut(HttpFailure):
    pass


class Response:
    """One answer. A body not read in full by ``close()`` ends its connection; one read in full leaves the
    connection for the next request."""

    def __init__(self, session: Session, key: tuple[str, str, int], connection: http.client.HTTPConnection,
                 raw: http.client.HTTPResponse, url: str) -> None:
        self._session = session
        self._key = key
        self._connection: http.client.HTTPConnection | None = connection
        self.raw = raw
        self.url = url
        self.status_code = raw.status
        self.headers = raw.msg  # case-insensitive get()
        self._content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            try:
                self._content = self.raw.read()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise _failure(exc) from None
            self.close()
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self.raw.isclosed() and not self.raw.will_close:
            self._session._release(self._key, connection)
        else:
            self.raw.close()
            connection.close()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class Session:
    def __init__(self, verify: bool = True, headers: dict[str, str] | None = None,
                 blocksize: int = 1024 * 1024) -> None:
        self.verify = verify
        self.headers = dict(headers or {})
        self.blocksize = blocksize
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._context: Any = None

    def request(self, method: str, url: str, *, data: bytes | BinaryIO | Iterable[bytes] | None = None,
                headers: dict[str, str] | None = None, params: dict[str, str] | list[tuple[str, str]] | None = None,
                stream: bool = False, timeout: tuple[float, float] = (15.0, 300.0),
                allow_redirects: bool = True) -> Response:
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        sent = {**self.headers, **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, data, sent, timeout)
            location = response.headers.get("Location")
            if not allow_redirects or response.status_code not in REDIRECTS or not location:
                break
            if response.status_code in (307, 308) and data is not None and not isinstance(data, bytes):
                break  # a file body cannot be sent again from here: the caller sees the redirect
            response.content  # noqa: B018 - read, so that the connection serves the next request
            target = urljoin(url, location)
            if _origin(target) != _origin(url):
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            if response.status_code == 303 and method != "HEAD" or (
                    response.status_code in (301, 302) and method == "POST"):
                method, data = "GET", None
                sent = {k: v for k, v in sent.items() if k.lower() not in ("content-length", "content-type")}
            url = target
        else:
            raise HttpFailure(f"more than {MAX_REDIRECTS} redirects")
        if not stream:
            response.content  # noqa: B018 - read now: the caller only looks
        return response

    def _send(self, method: str, url: str, data: bytes | BinaryIO | Iterable[bytes] | None, headers: dict[str, str],
              timeout: tuple[float, float]) -> Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectFailed(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._connection(key, timeout)
        try:
            if data is None or isinstance(data, bytes) or hasattr(data, "read"):
                connection.request(method, target, body=data, headers=headers)
            else:
                _send_chunked(connection, method, target, data, headers)
            raw = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _failure(exc) from None
        except BaseException:
            connection.close()  # a body that failed to come (its reader raised): the request is half sent
            raise
        return Response(self, key, connection, raw, url)

    def _connection(self, key: tuple[str, str, int], timeout: tuple[float, float]) -> http.client.HTTPConnection:
        idle = self._idle.get(key) or []
        while idle:
            connection = idle.pop()
            if _usable(connection):
                connection.sock.settimeout(timeout[1])
                return connection
            connection.close()
        scheme, host, port = key
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection  # Host: default ports
        connection = kind(host, port, blocksize=self.blocksize)
        try:
            # Connected here rather than by http.client: a host name given as text to getaddrinfo is
            # IDNA-encoded, which imports the idna codec (and unicodedata) for a plain address too.
            sock = socket.create_connection((host.encode() if host.isascii() else host, port), timeout[0])
        except OSError as exc:
            failure = _failure(exc)
            raise failure if isinstance(failure, TimedOut) else ConnectFailed(str(failure)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=host)
            sock.settimeout(timeout[1])
        except OSError as exc:
            sock.close()
            raise ConnectFailed(str(_failure(exc))) from None
        connection.sock = sock
        return connection

    def _release(self, key: tuple[str, str, int], connection: http.client.HTTPConnection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < MAX_IDLE and connection.sock is not None:
            idle.append(connection)
        else:
            connection.close()

    def _tls(self) -> Any:
        if self._context is None:
            import ssl

            if self.verify:
                import certifi

                self._context = ssl.create_default_context(cafile=certifi.where())
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                self._context = context
        return self._context

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


def _send_chunked(connection: http.client.HTTPConnection, method: str, target: str, chunks: Iterable[bytes],
                  headers: dict[str, str]) -> None:
    """A body of unknown length, in chunked transfer encoding as its chunks come. http.client would do
    it too, but copies every chunk twice to frame it; here a plain socket gets the frame and the chunk
    in one call."""
    connection.putrequest(method, target)
    for name, value in headers.items():
        if name.lower() not in ("content-length", "transfer-encoding"):
            connection.putheader(name, value)
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    sock = connection.sock
    gather = getattr(sock, "sendmsg", None) if type(sock) is socket.socket else None  # TLS sockets cannot
    for chunk in chunks:
        if not chunk:
            continue
        frame = [b"%X\r\n" % len(chunk), chunk, b"\r\n"]
        if gather is None:
            for part in frame:
                sock.sendall(part)
            continue
        views = [memoryview(part) for part in frame]
        while views:
            sent = gather(views)
            while views and sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            if views and sent:
                views[0] = views[0][sent:]
    sock.sendall(b"0\r\n\r\n")


def _usable(connection: http.client.HTTPConnection) -> bool:
    """A kept-alive connection the server has not closed meanwhile (it would be readable: EOF)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _failure(exc: BaseException) -> HttpFailure:
    """As messages say it: "timed out", "connection refused" or "connection error"."""
    if isinstance(exc, TimeoutError):
        return TimedOut("timed out")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectFailed("connection refused")
    return HttpFailure("connection error")
