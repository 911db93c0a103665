"""Token secrets: made random, stored only as hashes, compared in constant time.

Tokens carry 256 bits of randomness, so a fast hash (SHA-256) is as safe as a
slow one here and keeps Basic auth cheap on every request.
"""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "bbpkg_"
PIPELINE_TOKEN_PREFIX = "bbpipe_"


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def new_id() -> str:
    return secrets.token_hex(8)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()
