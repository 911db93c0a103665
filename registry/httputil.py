"""HTTP helpers shared by the protocol handlers: request bodies as streams, blobs as responses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from aiohttp import web

from registry.storage.blobs import BlobStore

BODY_CHUNK = 1024 * 1024
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(BODY_CHUNK):
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


def external_base(request: web.Request, public_url: str | None) -> str:
    """The scheme://host[:port] clients use to reach us."""
    if public_url:
        return public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


async def serve_blob(request: web.Request, blobs: BlobStore, digest: str, headers: dict[str, str],
                     content_type: str = "application/octet-stream") -> web.StreamResponse:
    """Answer GET/HEAD for stored content with Range support; zero-copy sendfile when it is a local file."""
    info = await blobs.stat(digest)
    if info.local_path is not None:
        response = web.FileResponse(info.local_path, headers={**headers, "Content-Type": content_type})
        return response
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
    response = web.StreamResponse(status=status, headers={**headers, "Content-Type": content_type,
                                                          "Accept-Ranges": "bytes"})
    response.content_length = end - start + 1
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in blobs.read(digest, start, end - start + 1):
            await response.write(chunk)
    await response.write_eof()
    return response
