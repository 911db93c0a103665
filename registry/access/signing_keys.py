"""The keys that sign bearer tokens: files outside the metadata database.

A copy of the database (a backup) must not be enough to forge a token, so keys live in files:

- embedded default: a directory ``DATA/keys`` (mode 0700) of key files (mode 0600), made on first use;
- replicas: ``--signing-key-file`` / ``PACKAGES_REGISTRY_SIGNING_KEY_FILE`` names one key file (a
  secret of at least 32 bytes, e.g. ``openssl rand -hex 32``) or a directory of ``<kid>.key`` files
  that every replica mounts.

Several keys verify; of a directory's keys, the one whose name (its kid) sorts last signs: the same
choice on every replica, however the files were copied (``keys rotate`` names keys by UTC time). A token names its key in the JWT header
(``kid``), so after ``packages-registry keys rotate`` the tokens signed by older keys keep working until
they expire, and a removed key's tokens are refused. Running servers notice a changed directory
(checked at most once a second, and at once when a token names a key they do not know).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import logging
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("packages_registry")

KEY_SUFFIX = ".key"
MIN_KEY_BYTES = 32
HEX_PREFIX = b"hex:"
_KID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
RELOAD_INTERVAL = 1.0
LEGACY_DATABASE_KEY = "jwt-signing-key"  # where 0.1.0 kept its key (server_secrets), moved out on start


class SigningKeyError(Exception):
    """The signing keys cannot be read or made; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    secret: bytes
    created_at: float  # the file's modification time: when it was made (or put there)


def _read_key(path: Path, kid: str) -> SigningKey:
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("signing key %s can be read by other users (mode %o): chmod 600 it", path,
                    stat.S_IMODE(info.st_mode))
    secret = path.read_bytes().strip()
    if secret.startswith(HEX_PREFIX):  # raw bytes written as hex (the key moved out of 0.1.0's database)
        try:
            secret = bytes.fromhex(secret[len(HEX_PREFIX):].decode("ascii"))
        except ValueError:
            raise SigningKeyError(f"signing key {path} is not valid hex after {HEX_PREFIX.decode()}") from None
    if len(secret) < MIN_KEY_BYTES:
        raise SigningKeyError(f"signing key {path} is shorter than {MIN_KEY_BYTES} bytes")
    return SigningKey(kid, secret, info.st_mtime)


def fingerprint_kid(secret: bytes) -> str:
    """A key id for a lone key file: derived from the key, reveals nothing of it."""
    return hashlib.sha256(b"packages-registry kid:" + secret).hexdigest()[:16]


def new_kid() -> str:
    # Sorts by creation time (to the microsecond), so the newest key of a directory is the last name.
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1e6):06d}Z-{secrets.token_hex(4)}"


class KeyRing:
    """The keys of one file or directory: the signing key and every key that still verifies."""

    def __init__(self, location: Path, create: bool) -> None:
        self.location = location
        self.create = create  # make the first key when the directory has none (the embedded default)
        self._keys: dict[str, SigningKey] = {}
        self._signing: SigningKey | None = None
        self._seen: tuple[int, int] | None = None
        self._checked = 0.0
        self.made_first = False  # whether opening it made its first key
        self.reload()

    @property
    def is_directory(self) -> bool:
        return not self.location.is_file()

    @property
    def signing(self) -> SigningKey:
        self.refresh()
        assert self._signing is not None
        return self._signing

    def all(self) -> list[SigningKey]:
        self.refresh()
        return sorted(self._keys.values(), key=lambda key: key.kid)

    def find(self, kid: str) -> SigningKey | None:
        self.refresh()
        key = self._keys.get(kid)
        if key is None:
            self.refresh(force=True)  # another replica may have rotated a moment ago
            key = self._keys.get(kid)
        return key

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_INTERVAL:
            return
        self._checked = now
        if self._stamp() != self._seen:
            try:
                self.reload()
            except (SigningKeyError, OSError) as exc:
                # Mid-change (or emptied by mistake): go on with the keys read last, and say so.
                log.warning("signing keys in %s not reloaded, still using the previous ones: %s", self.location, exc)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = self.location.stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_ino

    def reload(self) -> None:
        self._seen = self._stamp()
        if self.location.is_file():
            secret_key = _read_key(self.location, "")
            key = SigningKey(fingerprint_kid(secret_key.secret), secret_key.secret, secret_key.created_at)
            self._keys, self._signing = {key.kid: key}, key
            return
        keys = self._read_directory()
        if not keys and self.create:
            self._make_first()
            keys = self._read_directory()
        if not keys:
            raise SigningKeyError(f"no signing keys (*{KEY_SUFFIX}) in {self.location}: run "
                                  "`packages-registry keys rotate` to make one")
        self._keys = {key.kid: key for key in keys}
        self._signing = max(keys, key=lambda key: key.kid)
        self._seen = self._stamp()

    def _read_directory(self) -> list[SigningKey]:
        if not self.location.is_dir():
            return []
        keys = []
        for path in self.location.iterdir():
            kid = path.name[: -len(KEY_SUFFIX)]
            if path.name.endswith(KEY_SUFFIX) and _KID_RE.fullmatch(kid) and path.is_file():
                keys.append(_read_key(path, kid))
        return keys

    # --- changing the keys of a directory (the CLI, and the first start) ---

    @contextlib.contextmanager
    def _locked(self):
        """Serialise processes that add or remove keys (workers, replicas on one host, the CLI)."""
        if not self.is_directory:
            raise SigningKeyError(f"the signing key is the single file {self.location} (--signing-key-file): "
                                  "replace it there, or point --signing-key-file at a directory of keys to rotate")
        self.location.mkdir(mode=0o700, parents=True, exist_ok=True)
        with os.fdopen(os.open(self.location / ".lock", os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, kid: str, secret: bytes) -> None:
        """A new key file, 0600 from its first byte, complete before it appears under its name."""
        path = self.location / (kid + KEY_SUFFIX)
        temporary = path.with_name(f".{kid}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def _make_first(self) -> None:
        with self._locked():
            if not self._read_directory():  # else another process made it meanwhile
                self._write(new_kid(), secrets.token_hex(32).encode())
                self.made_first = True

    def add(self, secret: bytes, kid: str | None = None) -> str:
        """Add a key (the newest by kid signs); returns its kid."""
        newest = kid is None
        kid = kid or new_kid()
        if not _KID_RE.fullmatch(kid):
            raise SigningKeyError(f"a key id is letters, digits, '-' and '_', got {kid!r}")
        with self._locked():
            if newest and any(key.kid >= kid for key in self._read_directory()):
                raise SigningKeyError(f"a key in {self.location} sorts after {kid} (a clock behind, or a key named "
                                      "by hand): the new key would not sign. Rename that key or fix the clock")
            self._write(kid, secret)
        self.reload()
        return kid

    def rotate(self, keep_seconds: float) -> tuple[str, list[str]]:
        """Make a new signing key; remove old keys whose tokens have all expired (retired more than
        ``keep_seconds`` ago). Returns the new kid and the removed ones."""
        kid = self.add(secrets.token_hex(32).encode())
        removed = []
        with self._locked():
            keys = sorted(self._read_directory(), key=lambda key: key.kid)
            now = time.time()
            for older, newer in itertools.pairwise(keys):
                if now - newer.created_at > keep_seconds:  # retired when ``newer`` began to sign
                    (self.location / (older.kid + KEY_SUFFIX)).unlink(missing_ok=True)
                    removed.append(older.kid)
        self.reload()
        return kid, removed

    def remove(self, kid: str) -> None:
        """Drop a key at once (a leaked key): every token it signed stops working."""
        with self._locked():
            path = self.location / (kid + KEY_SUFFIX)
            if not _KID_RE.fullmatch(kid) or not path.is_file():
                raise SigningKeyError(f"no signing key {kid!r} in {self.location}")
            if [key.kid for key in self._read_directory()] == [kid]:
                raise SigningKeyError("that is the only key: rotate first, then remove it")
            path.unlink()
        self.reload()


def open_key_ring(data_dir: Path, key_file: str | None, create: bool = False) -> KeyRing:
    """The configured keys: the given file or directory, else ``DATA/keys`` (made on first use).

    A given directory gets its first key only when ``create`` (``keys rotate``): a server started with
    an empty or missing one refuses to run, rather than each replica making a key of its own.
    """
    if key_file:
        location = Path(key_file)
        if not location.exists() and not create:
            raise SigningKeyError(f"signing key file {location} does not exist")
        return KeyRing(location, create=create)
    return KeyRing(data_dir / "keys", create=True)


LEGACY_KID = "00000000T000000Z-legacy"  # sorts before every new key: verifies, never signs again


async def move_database_keys(db, ring: KeyRing) -> bool:
    """Move 0.1.0's signing key out of the metadata database (server_secrets) into the key ring and
    delete every secret there (the UI's CSRF key is derived from the signing keys now). True if a key
    was moved. Tokens it signed keep working until they expire; with a single key file (replicas) the
    old key cannot be added, and its tokens are refused: clients log in again."""
    row = await db.fetchone("SELECT value FROM server_secrets WHERE name = ?", (LEGACY_DATABASE_KEY,))
    left = await db.fetchone("SELECT COUNT(*) AS n FROM server_secrets")
    if row is None and not left["n"]:
        return False
    moved = False
    if row is not None:
        if ring.is_directory:
            if LEGACY_KID not in {key.kid for key in ring.all()}:
                ring.add(HEX_PREFIX + row["value"].encode(), LEGACY_KID)
            moved = True
        else:
            log.warning("the signing key kept in the database by 0.1.0 is deleted; tokens it signed are refused "
                        "(the signing key is now %s)", ring.location)
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM server_secrets")
    # SQLite keeps deleted bytes in the file until they are overwritten: have them overwritten now.
    checkpoint = getattr(db, "checkpoint", None)
    if checkpoint is not None:
        await checkpoint()
    log.info("secrets moved out of the metadata database into %s", ring.location)
    return moved
