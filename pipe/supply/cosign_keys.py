"""Private keys as `cosign generate-key-pair` writes them.

A PEM block (``ENCRYPTED SIGSTORE PRIVATE KEY``, or ``ENCRYPTED COSIGN PRIVATE KEY`` from older
cosigns) whose body is JSON: the password is stretched with scrypt (``kdf.params`` N, r, p and
``kdf.salt``) into a 32-byte key that opens ``ciphertext`` with NaCl's secretbox (``cipher.nonce``);
inside is the PKCS#8 DER of an ECDSA P-256 private key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_private_key

PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
_PEM_RE = re.compile(r"-----BEGIN (?P<type>[A-Z ]+)-----\s*(?P<body>[A-Za-z0-9+/=\s]+?)\s*-----END (?P=type)-----")
MAX_SCRYPT_N = 1 << 20  # cosign uses 2^15; far more is a key made to stall the pipe


class KeyError_(ValueError):
    """The key cannot be used; the message says why and never holds the key or the password."""


def load_private_key(pem: str, password: str) -> ec.EllipticCurvePrivateKey:
    """The key from the PEM text (or its base64, as secured variables often hold multi-line values)."""
    if "-----BEGIN" not in pem:
        try:
            pem = base64.b64decode("".join(pem.split()), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            pass
    match = _PEM_RE.search(pem.replace("\\n", "\n"))
    if match is None or match.group("type") not in PEM_TYPES:
        raise KeyError_("COSIGN_PRIVATE_KEY is not a key made by cosign generate-key-pair (a PEM block "
                        f"'{PEM_TYPES[0]}')")
    try:
        document = json.loads(base64.b64decode("".join(match.group("body").split()), validate=True))
        kdf, cipher = document["kdf"], document["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise KeyError_(f"COSIGN_PRIVATE_KEY uses {kdf['name']}/{cipher['name']}; cosign keys use "
                            "scrypt/nacl-secretbox")
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(cipher["nonce"])
        ciphertext = base64.b64decode(document["ciphertext"])
    except KeyError_:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise KeyError_("COSIGN_PRIVATE_KEY is damaged: its encrypted body cannot be read") from None
    if not (1 < n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16):
        raise KeyError_("COSIGN_PRIVATE_KEY has scrypt parameters outside what cosign writes")
    secret = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024)
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        der = SecretBox(secret).decrypt(ciphertext, nonce)
    except (CryptoError, ValueError):
        raise KeyError_("COSIGN_PASSWORD does not open COSIGN_PRIVATE_KEY (wrong password, or another key)") from None
    key = load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyError_("COSIGN_PRIVATE_KEY is not an ECDSA P-256 key")
    return key
