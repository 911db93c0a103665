"""Reading the legacy upload API's multipart form (what twine, uv publish and Poetry send) with
flat memory: the small fields into memory, each within a bound; the file part hashed (sha256, md5,
blake2b-256) in a thread, kept in memory up to IN_MEMORY bytes (most wheels) and past that spooled
to a temporary file as it arrives, in batches.

The file is checked (its name, its archive, its metadata, the digests the client declared) before
any of it reaches the blob store, so a refused upload leaves nothing stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, MultipartReader, web

from registry.pypi import errors

FILE_FIELD = "content"
MAX_FIELD_BYTES = 64 * 1024
# The form's long fields (the README as `description`, and a few more) may be large; all of them
# together stay within this.
MAX_FORM_BYTES = 8 * 1024 * 1024
MAX_FIELDS = 200
_BATCH = 1024 * 1024  # bytes written and hashed per thread hop
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
    sha256: str = ""
    md5: str = ""
    blake2_256: str = ""


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    file: UploadedFile | None = None

    def discard(self) -> None:
        if self.file is not None and self.file.path is not None:
            self.file.path.unlink(missing_ok=True)


class _Hashes:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.blake2 = hashlib.blake2b(digest_size=32)

    def update_and_write(self, handle, data: bytes) -> None:
        if handle is not None:
            handle.write(data)
        self.sha256.update(data)
        self.md5.update(data)
        self.blake2.update(data)


async def receive(request: web.Request, spool_dir: Path, max_file_bytes: int, before_file: BeforeFile) -> UploadForm:
    """Read the upload form. The caller must ``discard()`` the result when done with the file."""
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError, KeyError) as exc:
        raise errors.invalid(f"the upload must be a multipart/form-data body ({exc})") from None
    form = UploadForm()
    form_bytes = 0
    try:
        while True:
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, MultipartReader):
                raise errors.invalid("nested multipart bodies are not accepted")
            if len(form.fields) >= MAX_FIELDS:
                raise errors.invalid(f"the form has more than {MAX_FIELDS} fields")
            name = part.name or ""
            if name == FILE_FIELD:
                if form.file is not None:
                    raise errors.invalid("one file per upload")
                filename = part.filename or ""
                await before_file(form.fields, filename)
                form.file = await _spool(part, spool_dir, filename, max_file_bytes)
                continue
            value = await _field(part, name)
            form_bytes += len(value)
            if form_bytes > MAX_FORM_BYTES:
                raise errors.PypiError(413, f"the form's fields are larger than {MAX_FORM_BYTES} bytes")
            form.fields.setdefault(name, value)
    except errors.PypiError:
        form.discard()
        await _drain(request)
        raise
    except (ValueError, AssertionError, UnicodeDecodeError) as exc:
        form.discard()
        raise errors.invalid(f"malformed multipart body: {exc}") from None
    except BaseException:
        form.discard()
        raise
    return form


async def _field(part: BodyPartReader, name: str) -> str:
    limit = MAX_FORM_BYTES if name in ("description", "long_description") else MAX_FIELD_BYTES
    data = bytearray()
    while chunk := await part.read_chunk(_READ):
        data += chunk
        if len(data) > limit:
            raise errors.PypiError(413, f"the form field {name[:50]!r} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.invalid(f"the form field {name[:50]!r} is not UTF-8") from None


async def _spool(part: BodyPartReader, spool_dir: Path, filename: str, max_bytes: int) -> UploadedFile:
    uploaded = UploadedFile(filename)
    hashes = _Hashes()
    batch = bytearray()
    handle = None
    try:
        while chunk := await part.read_chunk(_READ):
            uploaded.size += len(chunk)
            if uploaded.size > max_bytes:
                raise errors.PypiError(413, f"the file is larger than this index accepts ({max_bytes} bytes)")
            batch += chunk
            if uploaded.size > IN_MEMORY and len(batch) >= _BATCH:
                if handle is None:
                    handle = await asyncio.to_thread(_open_spool, spool_dir, uploaded)
                await asyncio.to_thread(hashes.update_and_write, handle, bytes(batch))
                batch.clear()
        if batch:
            await asyncio.to_thread(hashes.update_and_write, handle, bytes(batch))
        if handle is None:
            uploaded.data = bytes(batch)
        else:
            await asyncio.to_thread(handle.close)
    except BaseException:
        if handle is not None:
            handle.close()
        if uploaded.path is not None:
            uploaded.path.unlink(missing_ok=True)
        raise
    uploaded.sha256 = hashes.sha256.hexdigest()
    uploaded.md5 = hashes.md5.hexdigest()
    uploaded.blake2_256 = hashes.blake2.hexdigest()
    return uploaded


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
