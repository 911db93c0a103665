"""OCI content digests: parsing, validation and streaming computation."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Algorithms we accept, with the exact hex length of their encoded part.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
DEFAULT_ALGORITHM = "sha256"

# The spec's grammar, narrowed to the registered algorithms (lower-case hex only).
_DIGEST_RE = re.compile(r"^(sha256|sha512):([a-f0-9]+)\Z")


class InvalidDigest(ValueError):
    """A string that is not a digest we support."""


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, value: str) -> Digest:
        match = _DIGEST_RE.match(value or "")
        if not match:
            raise InvalidDigest(f"invalid digest {value[:200]!r}" if value else "empty digest")
        algorithm, encoded = match.groups()
        if len(encoded) != ALGORITHMS[algorithm]:
            raise InvalidDigest(f"invalid {algorithm} digest length in {value[:200]!r}")
        return cls(algorithm, encoded)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def is_digest(value: str) -> bool:
    try:
        Digest.parse(value)
    except InvalidDigest:
        return False
    return True


def digest_bytes(data: bytes, algorithm: str = DEFAULT_ALGORITHM) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class DigestingWriter:
    """Feeds chunks to a hasher and counts them; the digest is known once the stream ends."""

    def __init__(self, algorithm: str = DEFAULT_ALGORITHM) -> None:
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def digest(self) -> str:
        return f"{self.algorithm}:{self._hash.hexdigest()}"
