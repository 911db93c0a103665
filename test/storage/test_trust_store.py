"""The trusted keys and signature policies (registry/trust.py) on both metadata backends."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from registry.storage.database import Database
from registry.trust import TrustError, TrustStore


def _public_pem() -> str:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_keys_and_policies_on_both_backends(db: Database, run) -> None:
    trust = TrustStore(db)
    pem = _public_pem()
    first = run(trust.add("acme", pem, "release", "admin@example.com"))
    assert first.name == "release" and first.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(TrustError, match="already trusts"):
        run(trust.add("acme", pem, "again", "admin@example.com"))  # the same key, whatever its name
    second = run(trust.add("acme", _public_pem(), "", "admin@example.com"))
    assert second.name == f"key-{second.fingerprint[:12]}"
    run(trust.add("other", pem, "theirs", "admin@example.com"))  # trust is per workspace
    assert [key.name for key in run(trust.keys("acme"))] == ["release", second.name]
    assert run(trust.remove("acme", first.id)) and not run(trust.remove("acme", first.id))
    assert not run(trust.remove("acme", run(trust.keys("other"))[0].id))  # not acme's key
    assert [key.id for key in run(trust.keys("acme"))] == [second.id]

    assert not run(trust.requires_signature(7))
    run(trust.set_requires_signature(7, True))
    run(trust.set_requires_signature(7, True))  # again: an update, not a duplicate
    assert run(trust.requires_signature(7)) and not run(trust.requires_signature(8))
    run(trust.set_requires_signature(7, False))
    assert not run(trust.requires_signature(7))
