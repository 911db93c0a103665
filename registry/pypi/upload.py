"""Reading the legacy upload API's multipart form (what twine, uv publish and Poetry send) with
flat memory: the small fields into memory, each within a bound; the file part kept in memory up to
IN_MEMORY bytes (most wheels) and past that spooled to a temporary file as it arrives, written in a
thread, in batches. Its digests (sha256, md5, blake2b-256) are taken once, as the content service
stages it (registry/pypi/routes.py).

The body is parsed by ``multipart``'s push parser as it arrives: a form of a dozen fields costs a
tenth of a millisecond on the event loop (aiohttp's reader parses each part's Content-Disposition
header with a fresh regular expression, some 70 microseconds a field).

The file is checked (its name, its archive, its metadata, the digests the client declared) before
any of it is visible or recorded (registry/pypi/routes.py), so a refused upload leaves nothing stored.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import multipart
from aiohttp import web

from registry.pypi import errors

FILE_FIELD = "content"
MAX_FIELD_BYTES = 64 * 1024
# The form's long fields (the README as `description`, and a few more) may be large; all of them
# together stay within this.
MAX_FORM_BYTES = 8 * 1024 * 1024
MAX_FIELDS = 200
_BATCH = 1024 * 1024  # bytes written per thread hop
IN_MEMORY = 1024 * 1024  # a file up to this size is held in memory, not spooled
_READ = 256 * 1024
# A refused upload's remaining body is read and dropped up to this many bytes, so that the client
# (which sends the whole body before it reads an answer) sees the refusal instead of a reset.
DRAIN_LIMIT = 64 * 1024 * 1024

# Checked before the file's bytes are read: gets the fields read so far and the file name, and
# raises a PypiError to refuse the upload.
BeforeFile = Callable[[dict[str, str], str], Awaitable[None]]


@dataclass
class UploadedFile:
    filename: str
    data: bytes | None = None  # the bytes, when small enough to be held in memory
    path: Path | None = None  # else the spool file
    size: int = 0


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    file: UploadedFile | None = None

    def discard(self) -> None:
        if self.file is not None and self.file.path is not None:
            self.file.path.unlink(missing_ok=True)


def _boundary(request: web.Request) -> str:
    mimetype, options = multipart.parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary:
        raise errors.invalid("the upload must be a multipart/form-data body with a boundary")
    return boundary


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    while chunk := await request.content.readany():
        yield chunk


class _Field:
    """A small form field, read into memory within its bound."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.limit = MAX_FORM_BYTES if name in ("description", "long_description") else MAX_FIELD_BYTES
        self.data = bytearray()

    async def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.limit:
            raise errors.PypiError(413, f"the form field {self.name[:50]!r} is larger than {self.limit} bytes")

    def value(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.invalid(f"the form field {self.name[:50]!r} is not UTF-8") from None


class _Spool:
    """The file part: held in memory while small, else written to a spool file as it arrives."""

    def __init__(self, spool_dir: Path, filename: str, max_bytes: int) -> None:
        self.uploaded = UploadedFile(filename)
        self.spool_dir = spool_dir
        self.max_bytes = max_bytes
        self.batch = bytearray()
        self.handle = None

    async def add(self, chunk: bytes) -> None:
        uploaded = self.uploaded
        uploaded.size += len(chunk)
        if uploaded.size > self.max_bytes:
            raise errors.PypiError(413, f"the file is larger than this index accepts ({self.max_bytes} bytes)")
        self.batch += chunk
        if uploaded.size > IN_MEMORY and len(self.batch) >= _BATCH:
            if self.handle is None:
                self.handle = await asyncio.to_thread(_open_spool, self.spool_dir, uploaded)
            await asyncio.to_thread(self.handle.write, bytes(self.batch))
            self.batch.clear()

    async def finish(self) -> UploadedFile:
        uploaded = self.uploaded
        if self.handle is None:
            uploaded.data = bytes(self.batch)
            return uploaded
        if self.batch:
            await asyncio.to_thread(self.handle.write, bytes(self.batch))
        await asyncio.to_thread(self.handle.close)
        self.handle = None
        return uploaded

    def abandon(self) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.uploaded.path is not None:
            self.uploaded.path.unlink(missing_ok=True)


async def receive(request: web.Request, spool_dir: Path, max_file_bytes: int, before_file: BeforeFile) -> UploadForm:
    """Read the upload form. The caller must ``discard()`` the result when done with the file."""
    form = UploadForm()
    spool: _Spool | None = None
    try:
        parser = multipart.PushMultipartParser(_boundary(request), max_segment_count=MAX_FIELDS + 1)
        form_bytes = 0
        part: _Field | _Spool | None = None

        async def handle(event) -> None:
            nonlocal part, spool, form_bytes
            if isinstance(event, multipart.MultipartSegment):
                name = event.name or ""
                if name != FILE_FIELD:
                    if len(form.fields) >= MAX_FIELDS:
                        raise errors.invalid(f"the form has more than {MAX_FIELDS} fields")
                    part = _Field(name)
                    return
                if spool is not None:
                    raise errors.invalid("one file per upload")
                filename = event.filename or ""
                await before_file(form.fields, filename)
                part = spool = _Spool(spool_dir, filename, max_file_bytes)
            elif event is not None:  # a piece of the part's body
                assert part is not None
                await part.add(event)
            elif isinstance(part, _Field):  # the end of a part
                value = part.value()
                form_bytes += len(value)
                if form_bytes > MAX_FORM_BYTES:
                    raise errors.PypiError(413, f"the form's fields are larger than {MAX_FORM_BYTES} bytes")
                form.fields.setdefault(part.name, value)
            else:
                assert spool is not None
                form.file = await spool.finish()

        async for chunk in _body(request):
            for event in parser.parse(chunk):
                await handle(event)
        for event in parser.parse(b""):
            await handle(event)
        if not parser.closed:
            raise errors.invalid("malformed multipart body: it ends before its closing boundary")
    except errors.PypiError:
        _abandon(form, spool)
        await _drain(request)
        raise
    except (multipart.MultipartError, ValueError) as exc:
        _abandon(form, spool)
        raise errors.invalid(f"malformed multipart body: {exc}") from None
    except BaseException:
        _abandon(form, spool)
        raise
    return form


def _abandon(form: UploadForm, spool: _Spool | None) -> None:
    if spool is not None:
        spool.abandon()
    form.discard()


def _open_spool(spool_dir: Path, uploaded: UploadedFile):
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="upload-", dir=spool_dir)
    uploaded.path = Path(path)
    return os.fdopen(fd, "wb")


async def _drain(request: web.Request) -> None:
    drained = 0
    try:
        while drained < DRAIN_LIMIT and (chunk := await request.content.read(_READ)):
            drained += len(chunk)
    except (OSError, ValueError):
        pass


async def file_chunks(path: Path, size: int = _BATCH) -> AsyncIterator[bytes]:
    """A spooled file's bytes, read in a thread (for the blob store)."""
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk
    finally:
        handle.close()
