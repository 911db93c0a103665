"""gzip for layers: deterministic (no name, mtime 0), streaming, digests computed on the way.

The deflate stream is made of independent 1 MiB blocks (each ends with a full flush, as pigz does),
and a block whose sample does not compress is stored instead of compressed: already-compressed
content (archives, jars, media) costs a copy instead of a futile deflate, which is several times
slower than moving the bytes. The result is an ordinary gzip file any client reads.

Stored blocks are written here rather than by zlib at level 0, which does the same but at several
times the cost of a copy (it was most of the CPU time of pushing incompressible layers).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

# The gzip trailer's CRC-32 by zlib-ng: the same values, at many times the speed of the system's zlib 1.2
# (it was a sixth of a cold push's CPU time). Deflate itself stays zlib's, so layers keep their bytes.
from zlib_ng.zlib_ng import crc32

BLOCK = 1024 * 1024
SAMPLE = 16 * 1024
STORED_MAX = 65535  # the most a stored deflate block holds
# Store a block whose sample shrinks by less than this.
INCOMPRESSIBLE = 0.97
GZIP_LEVEL = 1  # much faster than 6 for a few percent more bytes: pushes are bound by CPU, not the link
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # magic, deflate, no flags, mtime 0, xfl, OS unknown


def _stored(block: bytes, last: bool) -> bytes:
    """``block`` as stored deflate blocks (RFC 1951, 3.2.4), from a byte boundary: for each 64 KiB a
    header byte (BFINAL, BTYPE 00, padding), LEN and its complement, then the bytes as they are."""
    view = memoryview(block)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(block), STORED_MAX):
        piece = view[start:start + STORED_MAX]
        final = last and start + STORED_MAX >= len(block)
        parts += [struct.pack("<BHH", 1 if final else 0, len(piece), len(piece) ^ 0xFFFF), piece]
    return b"".join(parts)


def _deflate(block: bytes, level: int, last: bool) -> bytes:
    if level > 0 and len(block) > SAMPLE:
        probe = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
        sample = probe.compress(block[:SAMPLE]) + probe.flush(zlib.Z_SYNC_FLUSH)
        if len(sample) > INCOMPRESSIBLE * SAMPLE:
            return _stored(block, last)
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    return compressor.compress(block) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)


class GzipBlocks:
    """The same gzip as ``gzip_file``, made block by block while the input still grows.

    ``add(block, last)`` takes the input in BLOCK-sized pieces (the last may be shorter) and returns
    the compressed bytes for it, with the gzip header first and the trailer after the last block.
    The sha256 digest and size of everything returned are kept.
    """

    def __init__(self, level: int = GZIP_LEVEL) -> None:
        self.level = level
        self._digest = hashlib.sha256()
        self.size = 0
        self._crc = 0
        self._length = 0
        self._started = False

    def _emit(self, data: bytes) -> bytes:
        self._digest.update(data)
        self.size += len(data)
        return data

    def add(self, block: bytes, last: bool) -> bytes:
        out = b"" if self._started else _HEADER
        self._started = True
        self._crc = crc32(block, self._crc)
        self._length += len(block)
        out += _deflate(block, self.level, last)
        if last:
            out += self._crc.to_bytes(4, "little") + (self._length & 0xFFFFFFFF).to_bytes(4, "little")
        return self._emit(out)

    @property
    def digest(self) -> str:
        return f"sha256:{self._digest.hexdigest()}"


def gzip_file(source: Path, target: Path, level: int = GZIP_LEVEL) -> tuple[str, int]:
    """Compress ``source`` into ``target``; return (sha256 digest, size) of the compressed bytes."""
    gzip = GzipBlocks(level)
    with open(source, "rb") as src, open(target, "wb") as out:
        block = src.read(BLOCK)
        while True:
            following = src.read(BLOCK) if block else b""
            out.write(gzip.add(block, last=not following))
            if not following:
                break
            block = following
    return gzip.digest, gzip.size
