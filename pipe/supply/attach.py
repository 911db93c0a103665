"""After a push: sign the image, attach its provenance and SBOM, as the variables ask.

The signing, provenance and SBOM modules (cryptography, PyNaCl, cyclonedx) are imported only when one
is asked for: a push without them starts as fast as before."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipe.errors import PipeError
from pipe.oci.client import RegistryClient

PIPELINE_VARIABLES = ("BITBUCKET_GIT_HTTP_ORIGIN", "BITBUCKET_REPO_FULL_NAME", "BITBUCKET_WORKSPACE", "BITBUCKET_COMMIT",
                      "BITBUCKET_BRANCH", "BITBUCKET_TAG", "BITBUCKET_BUILD_NUMBER", "BITBUCKET_PIPELINE_UUID",
                      "BITBUCKET_STEP_UUID", "BITBUCKET_PR_ID")


@dataclass(frozen=True)
class Attached:
    """An artifact attached to the image: where it went."""

    kind: str  # "signature", "provenance", "sbom"
    digest: str  # of its manifest
    tag: str | None = None


@dataclass
class BuildFacts:
    """What the image was built from, for its provenance."""

    dockerfile: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class SupplySettings:
    sign: bool
    private_key: str  # PEM, from a secured variable: never logged
    password: str
    provenance: bool
    sbom: bool
    pipeline: dict[str, str] = field(default_factory=dict)  # the Pipelines variables provenance records

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
                          sign if provenance is None else bool(provenance), bool(variables.get("SBOM")),
                          {name: env[name] for name in PIPELINE_VARIABLES if env.get(name)})


def result_fields(attached: list[Attached]) -> dict[str, Any]:
    """What the result file says of them: the digests later steps (or a verifier) look up."""
    fields: dict[str, Any] = {}
    for done in attached:
        if done.kind == "sbom":
            fields.setdefault("sboms", []).append(done.digest)
        else:
            fields[done.kind] = {"digest": done.digest, **({"tag": done.tag} if done.tag else {})}
    return fields


def attach(client: RegistryClient, supply: SupplySettings, name: str, registry_host: str, digest: str,
           log: logging.Logger, facts: BuildFacts | None = None) -> list[Attached]:
    """Attach what ``supply`` asks for to the image ``name@digest``; returns what was pushed."""
    if not supply.wanted:
        return []
    from pipe.supply import provenance, signatures
    from pipe.supply.cosign_keys import KeyError_, load_private_key

    manifest = client.get_manifest(name, digest)
    if manifest is None:
        raise PipeError(f"The image {name}@{digest} just pushed cannot be read back to sign it.")
    subject = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": len(manifest.body)}
    attached: list[Attached] = []
    key = None
    if supply.sign:
        try:
            key = load_private_key(supply.private_key, supply.password)
        except KeyError_ as exc:
            raise PipeError(str(exc)) from None
        done = signatures.sign_image(client, key, name, f"{registry_host}/{name}", subject)
        log.info(f"Signed {registry_host}/{name}@{manifest.digest}: signature {done.digest} (tag {done.tag})")
        attached.append(done)
    if supply.provenance:
        facts = facts or BuildFacts()
        document = provenance.statement(f"{registry_host}/{name}", manifest.digest, supply.pipeline, facts.dockerfile,
                                        facts.build_args, facts.target, facts.tags)
        data, media_type = provenance.envelope(document, key)
        body, blobs = signatures.artifact_manifest(
            [(data, media_type, {})], subject, provenance.IN_TOTO,
            annotations={"in-toto.io/predicate-type": provenance.SLSA_PROVENANCE})
        done = Attached("provenance", signatures.push_artifact(client, name, body, blobs, None))
        log.info(f"Attached SLSA provenance {done.digest}" + (" (signed)" if key else ""))
        attached.append(done)
    if supply.sbom:
        attached += _attach_sboms(client, name, registry_host, manifest.body, subject, log)
    return attached


def _attach_sboms(client: RegistryClient, name: str, registry_host: str, body: bytes, subject: dict,
                  log: logging.Logger) -> list[Attached]:
    """One SBOM per image: the image itself, or each platform's image of an index."""
    from pipe.supply import sbom, signatures

    document = json.loads(body)
    targets = [subject]
    if isinstance(document.get("manifests"), list):
        targets = [{key: child[key] for key in ("mediaType", "digest", "size")} for child in document["manifests"]
                   if isinstance(child, dict) and child.get("digest")]
    attached = []
    for target in targets:
        image = document if target is subject else None
        if image is None:
            child = client.get_manifest(name, target["digest"])
            if child is None:
                continue
            image = json.loads(child.body)
        if not isinstance(image.get("layers"), list):
            continue  # an attestation or another artifact listed in the index
        found = sbom.image_inventory(client, name, image)
        data = sbom.document(f"{registry_host}/{name}", target["digest"], found)
        manifest, blobs = signatures.artifact_manifest([(data, sbom.CYCLONEDX, {})], target, sbom.CYCLONEDX)
        done = Attached("sbom", signatures.push_artifact(client, name, manifest, blobs, None))
        log.info(f"Attached a CycloneDX SBOM {done.digest} of {target['digest']} ({len(found)} components)")
        attached.append(done)
    return attached
