"""Key pairs made the way `cosign generate-key-pair` makes them (sigstore's encrypted key format,
from its specification): an ECDSA P-256 key, its PKCS#8 DER sealed with NaCl secretbox under a key
that scrypt (N=32768, r=8, p=1) stretches from the password, as JSON in a PEM block; the public key
as PKIX PEM. Written for the tests, separately from the pipe's own reader."""

from __future__ import annotations

import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.secret import SecretBox


def generate_key_pair(password: str, pem_type: str = "ENCRYPTED SIGSTORE PRIVATE KEY") -> tuple[str, str]:
    """(private key PEM as cosign.key holds it, public key PEM as cosign.pub holds it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    secret = hashlib.scrypt(password.encode(), salt=salt, n=32768, r=8, p=1, dklen=32, maxmem=64 * 1024 * 1024)
    sealed = SecretBox(secret).encrypt(der, nonce).ciphertext
    document = {
        "kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    body = base64.b64encode(json.dumps(document).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    private = f"-----BEGIN {pem_type}-----\n" + "\n".join(lines) + f"\n-----END {pem_type}-----\n"
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public
