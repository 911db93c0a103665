"""The checksums Maven clients upload and fetch beside every file: md5, sha1, sha256, sha512."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

# Lengths of each algorithm's hex digest: an uploaded checksum file is checked against them.
HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_HEX_RE = re.compile(r"^[0-9a-f]+\Z")
MAX_CHECKSUM_FILE = 1024


@dataclass(frozen=True, slots=True)
class Checksums:
    md5: str
    sha1: str
    sha256: str
    sha512: str

    def get(self, algorithm: str) -> str:
        return getattr(self, algorithm)


def of_bytes(data: bytes) -> Checksums:
    return Checksums(*(hashlib.new(name, data).hexdigest() for name in HEX_LENGTHS))


class StreamHasher:
    """Hashes a stream with md5, sha1 and sha512 while it passes through to the content store, which
    hashes it with sha256 itself: every algorithm in one pass over the bytes."""

    def __init__(self) -> None:
        self._hashers = {name: hashlib.new(name) for name in ("md5", "sha1", "sha512")}
        self.size = 0

    async def through(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        hashers = tuple(self._hashers.values())
        async for chunk in chunks:
            for hasher in hashers:
                hasher.update(chunk)
            self.size += len(chunk)
            yield chunk

    def result(self, sha256: str) -> Checksums:
        hexes = {name: hasher.hexdigest() for name, hasher in self._hashers.items()}
        return Checksums(hexes["md5"], hexes["sha1"], sha256, hexes["sha512"])


def parse_checksum_file(body: bytes, algorithm: str) -> str | None:
    """The hex digest in an uploaded checksum file (``HEX`` or ``HEX  filename``), or None if there is none."""
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    value = text.split(maxsplit=1)[0].lower() if text else ""
    if len(value) != HEX_LENGTHS[algorithm] or not _HEX_RE.match(value):
        return None
    return value
