"""Deadlines for slow clients (slowloris): a request head must arrive in time, and a body must keep
coming.

aiohttp has no read timeouts of its own: a connection that sends half a request head, or a body at one
byte per half second, holds a connection (and a handler, and an upload session) for as long as it likes.
Here every connection gets, in the manner of Apache's mod_reqtimeout:

- a head deadline: ``header_timeout`` seconds from the first byte of a request (or from connecting) to
  the end of its headers; past it the client gets ``408`` and the connection is closed;
- a body deadline while the request's body is incomplete: no ``body_timeout`` seconds without a byte,
  and, after a first ``body_timeout`` seconds of grace, at least ``body_min_rate`` bytes a second on
  average. Time during which the server itself stopped reading (flow control: a handler not ready for
  more) does not count against the client.

Idle keep-alive connections between requests are aiohttp's ``keepalive_timeout``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

CHECK_INTERVAL = 0.5
REQUEST_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ConnectionTimeouts:
    """Seconds (and bytes a second for the rate); the defaults are the settings' (registry/settings.py)."""

    header_timeout: float
    body_timeout: float
    body_min_rate: float  # bytes per second, on average, once body_timeout has passed
    keepalive_timeout: float


class TimedRequestHandler(RequestHandler):
    """aiohttp's connection protocol, with the deadlines above checked by one timer per connection."""

    def __init__(self, timeouts: ConnectionTimeouts, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeouts = timeouts
        self._timer: asyncio.TimerHandle | None = None
        self._in_request = False
        self._head_since: float | None = None  # waiting for a request head since
        self._body_request: web.BaseRequest | None = None  # a request whose body is still coming
        self._body_since = 0.0
        self._body_bytes = 0
        self._last_byte = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head_since = self._loop.time()  # a connection that never sends a head is closed too
        self._schedule()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        now = self._loop.time()
        self._last_byte = now
        if self._body_request is not None:
            self._body_bytes += len(data)
        elif self._head_since is None and not self._in_request:
            self._head_since = now  # the first byte of the next request on a kept-alive connection
            self._schedule()
        super().data_received(data)

    async def _handle_request(self, request: web.BaseRequest, *args: Any) -> Any:
        self._head_since, self._in_request = None, True
        if not request.content.is_eof():
            now = self._loop.time()
            self._body_request, self._body_since, self._body_bytes, self._last_byte = request, now, 0, now
            self._schedule()
        try:
            return await super()._handle_request(request, *args)
        finally:
            self._body_request, self._in_request = None, False

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = self._loop.call_later(CHECK_INTERVAL, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        now, limits = self._loop.time(), self._timeouts
        if self._head_since is not None and not self._in_request:
            if now - self._head_since > limits.header_timeout:
                self.transport.write(REQUEST_TIMEOUT_ANSWER)
                self.force_close()
                return
            self._schedule()
            return
        request = self._body_request
        if request is None or request.content.is_eof():
            self._body_request = None
            return
        if not self.transport.is_reading():  # the server is not reading: not the client's delay
            self._body_since, self._body_bytes, self._last_byte = now, 0, now
        elif now - self._last_byte > limits.body_timeout or (
                now - self._body_since > limits.body_timeout
                and self._body_bytes < limits.body_min_rate * (now - self._body_since - limits.body_timeout)):
            self.force_close()
            return
        self._schedule()


class TimedAppRunner(web.AppRunner):
    """An AppRunner whose connections are TimedRequestHandlers."""

    def __init__(self, app: web.Application, timeouts: ConnectionTimeouts, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=timeouts.keepalive_timeout, **kwargs)
        self._timeouts = timeouts

    async def _make_server(self) -> web.Server:
        return _TimedServer(await super()._make_server(), self._timeouts)  # type: ignore[return-value]


class _TimedServer:
    """aiohttp's Server (connection bookkeeping, shutdown) making TimedRequestHandlers."""

    def __init__(self, server: web.Server, timeouts: ConnectionTimeouts) -> None:
        self._server = server
        self._timeouts = timeouts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)

    def __call__(self) -> RequestHandler:
        server = self._server
        return TimedRequestHandler(self._timeouts, server, loop=server._loop, **server._kwargs)
