"""HTTP helpers shared by the protocol handlers: request bodies as streams, blobs as responses."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from aiohttp import web

from registry.lru import BudgetLru
from registry.storage.blobs import BlobNotFound, BlobStore

BODY_CHUNK = 1024 * 1024
# Up to this size a local blob is read and sent in one write: sendfile's set-up (waiting for the
# headers to drain, then the file's pieces) costs more than the copy (128 KiB: 1.9k req/s by sendfile,
# 5k read whole, on loopback here).
SMALL_READ = 256 * 1024
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)\Z")
_TCP_CORK = getattr(socket, "TCP_CORK", None)  # Linux


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    # The pieces as they arrived (up to the event loop's read size): no joining them into bigger
    # chunks, which would copy every byte once more and hold more memory per upload.
    async for chunk in request.content.iter_any():
        yield chunk


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None if it is larger than ``limit`` bytes (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    parts, size = [], 0
    async for chunk in request.content.iter_chunked(BODY_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


class SmallBlobs(BudgetLru[str, bytes]):
    """Bytes of small blobs by digest, least recently used dropped first, within a byte budget."""

    def put(self, digest: str, data: bytes) -> None:  # type: ignore[override]
        super().put(digest, data, len(data))


# RFC 9110 Host: uri-host [ ":" port ], uri-host being a name, an IPv4 address or a bracketed IPv6 one.
# Nothing else (quotes, commas, spaces, slashes, "@") may reach a realm, a tarball URL or a page.
_HOST_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9.])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def is_valid_host(value: str) -> bool:
    return _HOST_RE.fullmatch(value) is not None


def external_base(request: web.Request, public_url: str | None) -> str:
    """The scheme://host[:port] clients use to reach us (the Host header was checked on the way in:
    app.valid_host)."""
    if public_url:
        return public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def sent_by_another_site(request: web.Request, public_url: str | None) -> bool:
    """Did a browser send this request from a page of another origin?

    Browsers say so (``Sec-Fetch-Site``, ``Origin``); command-line clients (npm, mvn) send neither.
    A page of another origin can make a browser send a GET, HEAD or POST with a form-like body and
    whatever credentials the browser keeps for this server (cached Basic, cookies) without asking
    us first: state-changing handlers refuse such requests.
    """
    if request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    ours = urlsplit(external_base(request, public_url))
    return origin.rstrip("/").lower() != f"{ours.scheme}://{ours.netloc}".lower()


def is_json_body(request: web.Request) -> bool:
    """A JSON Content-Type, which no page of another origin can send without the browser asking us
    first (a CORS preflight, which this server never grants)."""
    media_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and
                                                 media_type.endswith("+json"))


async def serve_blob(request: web.Request, blobs: BlobStore, digest: str, headers: dict[str, str],
                     content_type: str = "application/octet-stream", memory: SmallBlobs | None = None
                     ) -> web.StreamResponse:
    """Answer GET/HEAD for stored content with Range support; zero-copy sendfile when it is a local file.

    ``memory`` keeps the bytes of whole small blobs between requests (for files that clients fetch
    again and again, like Maven poms): content-addressed, so a hit is always right.
    """
    if memory is not None and "Range" not in request.headers:
        body = memory.get(digest)
        if body is not None:
            return web.Response(body=body, headers={**headers, "Content-Type": content_type,
                                                    "Accept-Ranges": "bytes"})
    info = await blobs.stat(digest)
    start, end = 0, info.size - 1
    status = 200
    range_header = request.headers.get("Range")
    if range_header:
        match = _RANGE_RE.match(range_header.strip())
        first, last = (match.group(1), match.group(2)) if match else ("", "")
        if not match or (not first and not last):
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{info.size}"})
        if first:
            start, end = int(first), min(int(last), info.size - 1) if last else info.size - 1
        else:
            start, end = max(info.size - int(last), 0), info.size - 1
        if start > end or start >= info.size:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{info.size}"})
        status = 206
        headers = {**headers, "Content-Range": f"bytes {start}-{end}/{info.size}"}
    headers = {**headers, "Content-Type": content_type, "Accept-Ranges": "bytes"}
    length = end - start + 1
    if request.method == "GET" and 0 < length <= SMALL_READ and (info.local_path is not None or memory is not None):
        if info.local_path is not None:
            body = _read_span(info.local_path, start, length)
        else:
            body = b"".join([chunk async for chunk in blobs.read(digest, start, length)])
        if body is None or len(body) != length:
            raise BlobNotFound(digest)  # deleted (gc) since the stat, or not what was recorded
        if memory is not None and status == 200:
            memory.put(digest, body)
        return web.Response(status=status, body=body, headers=headers)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    if request.method == "HEAD" or length == 0:
        await response.prepare(request)
        await response.write_eof()
        return response
    if info.local_path is not None:
        try:
            handle = open(info.local_path, "rb")  # noqa: SIM115, ASYNC230 - closed below; opening is a page-cache lookup
        except FileNotFoundError:
            raise BlobNotFound(digest) from None  # deleted (gc) since the stat: not found, as if a moment later
        with handle:
            await _sendfile(request, response, handle, start, length)
        return response
    await response.prepare(request)
    async for chunk in blobs.read(digest, start, length):
        await response.write(chunk)
    await response.write_eof()
    return response


async def _sendfile(request: web.Request, response: web.StreamResponse, handle: BinaryIO, offset: int,
                    count: int) -> None:
    """Headers, then the file's bytes by sendfile(2), with the socket corked meanwhile.

    Corked, the kernel sends only full segments: the headers go out with the first bytes of the
    body, and sendfile's page-sized pieces are not each pushed on their own (on loopback that
    takes pulls from about 1.1 to 1.8 GB/s here). Uncorking at the end flushes the tail.
    """
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    corked = _set_cork(sock, True)
    try:
        await response.prepare(request)  # a StreamResponse writes its headers to the transport now
        assert request.transport is not None
        try:
            await asyncio.get_running_loop().sendfile(request.transport, handle, offset, count)
        except NotImplementedError:  # an event loop without sendfile: copy through the transport
            handle.seek(offset)
            remaining = count
            while remaining > 0:
                chunk = handle.read(min(BODY_CHUNK, remaining))
                if not chunk:
                    raise ConnectionResetError("blob file shorter than its recorded size")
                remaining -= len(chunk)
                await response.write(chunk)
        await response.write_eof()
    finally:
        if corked:
            _set_cork(sock, False)


def _read_span(path: Path, offset: int, length: int) -> bytes | None:
    """``length`` bytes of a small file from ``offset`` (a page-cache read: done inline), or None if
    the file is gone or shorter."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
    except FileNotFoundError:
        return None
    return data if len(data) == length else None


def _set_cork(sock, on: bool) -> bool:
    if sock is None or _TCP_CORK is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, int(on))
    except OSError:
        return False
    return True
