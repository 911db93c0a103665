"""After a push: sign the image, attach its provenance and SBOM, as the variables ask."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipe.errors import PipeError
from pipe.oci.client import RegistryClient
from pipe.supply import signatures
from pipe.supply.cosign_keys import KeyError_, load_private_key


@dataclass
class SupplySettings:
    sign: bool
    private_key: str  # PEM, from a secured variable: never logged
    password: str
    provenance: bool
    sbom: bool

    @property
    def wanted(self) -> bool:
        return self.sign or self.provenance or self.sbom


def load(variables: Mapping[str, Any], env: Mapping[str, str]) -> SupplySettings:
    sign = bool(variables.get("SIGN"))
    key = env.get("COSIGN_PRIVATE_KEY", "")
    if sign and not key.strip():
        raise PipeError("SIGN is set but COSIGN_PRIVATE_KEY is not: put the private key that cosign "
                        "generate-key-pair wrote (cosign.key) in a secured variable COSIGN_PRIVATE_KEY, and its "
                        "password in COSIGN_PASSWORD.")
    provenance = variables.get("PROVENANCE")
    return SupplySettings(sign, key, env.get("COSIGN_PASSWORD", ""),
                          sign if provenance is None else bool(provenance), bool(variables.get("SBOM")))


def attach(client: RegistryClient, supply: SupplySettings, name: str, registry_host: str, digest: str,
           log: logging.Logger) -> list[signatures.Attached]:
    """Attach what ``supply`` asks for to the image ``name@digest``; returns what was pushed."""
    if not supply.wanted:
        return []
    manifest = client.get_manifest(name, digest)
    if manifest is None:
        raise PipeError(f"The image {name}@{digest} just pushed cannot be read back to sign it.")
    subject = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": len(manifest.body)}
    attached: list[signatures.Attached] = []
    key = None
    if supply.sign:
        try:
            key = load_private_key(supply.private_key, supply.password)
        except KeyError_ as exc:
            raise PipeError(str(exc)) from None
        done = signatures.sign_image(client, key, name, f"{registry_host}/{name}", subject)
        log.info(f"Signed {registry_host}/{name}@{manifest.digest}: signature {done.digest} (tag {done.tag})")
        attached.append(done)
    return attached
