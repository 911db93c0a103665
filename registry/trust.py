"""What a workspace trusts: the public keys (cosign.pub, ECDSA P-256) whose signatures count, and per
container package whether a pull requires a signature by one of them (Harbor's content trust).

Keys are public, so they live in the database; admins add and remove them on the pages
(/<workspace>/workspace/trust) or with ``packages-registry trust add|list|remove``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from registry.storage.database import Database, IntegrityError

MAX_KEYS_PER_WORKSPACE = 50
MAX_KEY_PEM_BYTES = 8 * 1024
MAX_KEY_NAME = 100


class TrustError(ValueError):
    """A key that cannot be trusted as given (not a P-256 public key, a duplicate, too many)."""


@dataclass(frozen=True)
class TrustedKey:
    id: int
    workspace: str
    name: str
    public_key: str  # PEM SubjectPublicKeyInfo
    fingerprint: str  # sha256 of the DER SubjectPublicKeyInfo, hex
    created_by: str
    created_at: float


def parse_public_key(pem: str | bytes) -> tuple[str, str]:
    """(normalized PEM, fingerprint) of an ECDSA P-256 public key as `cosign generate-key-pair` writes it."""
    data = pem.encode() if isinstance(pem, str) else pem
    if len(data) > MAX_KEY_PEM_BYTES:
        raise TrustError(f"a public key file is at most {MAX_KEY_PEM_BYTES} bytes")
    if b"PRIVATE KEY" in data:
        # Never keep (or echo) a private key that was pasted by mistake.
        raise TrustError("that is a private key: give the public key (cosign.pub), and keep the private one secret")
    try:
        key = serialization.load_pem_public_key(data.strip())
    except (ValueError, TypeError):
        raise TrustError("not a PEM public key (-----BEGIN PUBLIC KEY-----, as in cosign.pub)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise TrustError("only ECDSA P-256 public keys are supported (as `cosign generate-key-pair` makes)")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    normalized = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return normalized.decode(), hashlib.sha256(der).hexdigest()


def _key(row) -> TrustedKey:
    return TrustedKey(id=int(row["id"]), workspace=row["workspace"], name=row["name"], public_key=row["public_key"],
                      fingerprint=row["fingerprint"], created_by=row["created_by"], created_at=row["created_at"])


class TrustStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def keys(self, workspace: str) -> list[TrustedKey]:
        rows = await self.db.fetchall(
            "SELECT id, workspace, name, public_key, fingerprint, created_by, created_at FROM trusted_keys "
            "WHERE workspace = ? ORDER BY id", (workspace,))
        return [_key(row) for row in rows]

    async def add(self, workspace: str, pem: str | bytes, name: str, created_by: str) -> TrustedKey:
        normalized, fingerprint = parse_public_key(pem)
        name = name.strip() or f"key-{fingerprint[:12]}"
        if len(name) > MAX_KEY_NAME or any(not c.isprintable() for c in name):
            raise TrustError(f"a key's name is up to {MAX_KEY_NAME} printable characters")
        async with self.db.transaction() as tx:
            count = await tx.fetchone("SELECT COUNT(*) AS n FROM trusted_keys WHERE workspace = ?", (workspace,))
            if count is not None and int(count["n"]) >= MAX_KEYS_PER_WORKSPACE:
                raise TrustError(f"a workspace trusts at most {MAX_KEYS_PER_WORKSPACE} keys")
            try:
                await tx.execute(
                    "INSERT INTO trusted_keys (workspace, name, public_key, fingerprint, created_by, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (workspace, name, normalized, fingerprint, created_by, time.time()))
            except IntegrityError:
                raise TrustError(f"workspace {workspace} already trusts that key") from None
        added = next((key for key in await self.keys(workspace) if key.fingerprint == fingerprint), None)
        assert added is not None
        return added

    async def remove(self, workspace: str, key_id: int) -> bool:
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM trusted_keys WHERE workspace = ? AND id = ?",
                                    (workspace, key_id)) > 0

    async def requires_signature(self, package_id: int) -> bool:
        row = await self.db.fetchone("SELECT require_signature FROM signature_policies WHERE package_id = ?",
                                     (package_id,))
        return row is not None and bool(row["require_signature"])

    async def set_requires_signature(self, package_id: int, required: bool) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO signature_policies (package_id, require_signature, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (package_id) DO UPDATE SET require_signature = excluded.require_signature, "
                "updated_at = excluded.updated_at", (package_id, int(required), time.time()))
