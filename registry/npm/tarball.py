"""Checking a published tarball before anything is stored.

A tarball is hostile until proven otherwise: it must be gzip'd tar, small enough packed and
unpacked, with every entry a plain file or directory under ``package/`` (no ``..``, no absolute
path, no links or devices, which a client unpacking it could be tricked by), and with a
``package/package.json`` that names the package and version being published.

Inflating is CPU work that grows with the archive: callers run :func:`inspect` in a worker thread,
over the stored bytes (any readable binary stream), never on the event loop.
"""

from __future__ import annotations

import gzip
import io
import json
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_ENTRIES = 100_000
MAX_PACKAGE_JSON_BYTES = 4 * 1024 * 1024
ROOT = "package/"


class BadTarball(ValueError):
    """The tarball is refused; the message says why (and is safe to show)."""


@dataclass(frozen=True, slots=True)
class TarballFacts:
    package_json: dict
    file_count: int
    unpacked_size: int
    has_binding_gyp: bool = False  # package/binding.gyp: npm runs `node-gyp rebuild` on install
    has_shrinkwrap: bool = False  # package/npm-shrinkwrap.json


class _CappedReader(io.RawIOBase):
    """The decompressed stream, refused once it grows past the cap (a gzip bomb stops here)."""

    def __init__(self, compressed: BinaryIO, cap: int) -> None:
        self._gzip = gzip.GzipFile(fileobj=compressed)
        self._cap = cap
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._gzip.read(len(buffer))
        self._read += len(chunk)
        if self._read > self._cap:
            raise BadTarball(f"the tarball unpacks to more than {self._cap // (1024 * 1024)} MiB")
        buffer[:len(chunk)] = chunk
        return len(chunk)


def _check_path(name: str) -> None:
    if "\\" in name or "\x00" in name or name.startswith("/"):
        raise BadTarball(f"tarball entry {name[:200]!r} has an absolute or malformed path")
    if ".." in name.split("/"):
        raise BadTarball(f"tarball entry {name[:200]!r} escapes the package directory")
    normal = posixpath.normpath(name)
    if not (normal + "/").startswith(ROOT) or normal == "package/..":
        raise BadTarball(f"tarball entry {name[:200]!r} is outside package/")


def inspect(data: bytes | BinaryIO, max_unpacked: int = MAX_UNPACKED_BYTES) -> TarballFacts:
    """Check the tarball (bytes, or a stream of them); return its package.json and what npm derives
    from its files, or raise BadTarball."""
    compressed = io.BufferedReader(io.BytesIO(data)) if isinstance(data, bytes) else io.BufferedReader(data)
    if compressed.peek(2)[:2] != b"\x1f\x8b":
        raise BadTarball("the tarball is not gzip-compressed")
    package_json: bytes | None = None
    files = entries = unpacked = 0
    has_binding_gyp = has_shrinkwrap = False
    try:
        with tarfile.open(fileobj=io.BufferedReader(_CappedReader(compressed, max_unpacked)), mode="r|") as tar:
            for member in tar:
                entries += 1
                if entries > MAX_ENTRIES:
                    raise BadTarball(f"the tarball has more than {MAX_ENTRIES} entries")
                _check_path(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise BadTarball(f"tarball entry {member.name[:200]!r} is a link or special file; "
                                     "only files and directories are accepted")
                files += 1
                unpacked += member.size
                path = posixpath.normpath(member.name)
                has_binding_gyp = has_binding_gyp or path == "package/binding.gyp"
                has_shrinkwrap = has_shrinkwrap or path == "package/npm-shrinkwrap.json"
                if path == "package/package.json":
                    if member.size > MAX_PACKAGE_JSON_BYTES:
                        raise BadTarball("package/package.json is too large")
                    handle = tar.extractfile(member)
                    assert handle is not None
                    package_json = handle.read()
    except BadTarball:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BadTarball(f"the tarball is not a valid gzip'd tar archive ({type(exc).__name__})") from None
    if package_json is None:
        raise BadTarball("the tarball has no package/package.json")
    try:
        manifest = json.loads(package_json)
    except (ValueError, UnicodeDecodeError):
        raise BadTarball("package/package.json in the tarball is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise BadTarball("package/package.json in the tarball is not a JSON object")
    return TarballFacts(manifest, files, unpacked, has_binding_gyp, has_shrinkwrap)
