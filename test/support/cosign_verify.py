"""A checker of cosign signatures, written from cosign's signature and storage specifications
(not from the pipe's signing code, which it must not share): find the signature manifest under the
tag ``sha256-<hex>.sig`` (and, given the referrers API, the OCI 1.1 referrers of cosign's signature
artifact type, where ``cosign sign --registry-referrers-mode=oci-1-1`` stores them), and for each layer of type ``application/vnd.dev.cosign.simplesigning.v1+json``
check that the layer's bytes are the blob its digest names, that the payload names the image's
digest (and reference), and that the base64 ECDSA signature in the annotation
``dev.cosignproject.cosign/signature`` verifies over those bytes with the public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"


class NotVerified(Exception):
    pass


@dataclass
class Verified:
    signature_manifest: dict
    payload: dict


def verify_payload(payload: bytes, signature_b64: str, public_pem: str, image_digest: str,
                   reference: str | None = None) -> dict:
    """Check one simple-signing payload and its signature; the payload document if it holds."""
    key = load_pem_public_key(public_pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise NotVerified("not an ECDSA public key")
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise NotVerified("the signature does not verify with this key") from None
    document = json.loads(payload)
    critical = document["critical"]
    if critical["type"] != "cosign container image signature":
        raise NotVerified(f"unexpected payload type {critical['type']!r}")
    if critical["image"]["docker-manifest-digest"] != image_digest:
        raise NotVerified("the payload signs another image")
    if reference is not None and critical["identity"]["docker-reference"] != reference:
        raise NotVerified("the payload names another repository")
    return document


def verify_image(get_manifest: Callable[[str], bytes | None], get_blob: Callable[[str], bytes], image_digest: str,
                 public_pem: str, reference: str | None = None,
                 get_referrers: Callable[[str, str], dict] | None = None) -> Verified:
    """Verify the image ``image_digest`` from the registry reached by the callables (manifest by
    reference, blob by digest, and optionally the referrers API's index for (digest, artifactType));
    raises NotVerified unless one signature holds."""
    algorithm, _, hex_part = image_digest.partition(":")
    manifests = []
    tagged = get_manifest(f"{algorithm}-{hex_part}.sig")
    if tagged is not None:
        manifests.append(tagged)
    if get_referrers is not None:
        for descriptor in get_referrers(image_digest, SIGNATURE_ARTIFACT).get("manifests", []):
            raw = get_manifest(descriptor["digest"])
            if raw is not None and json.loads(raw).get("subject", {}).get("digest") == image_digest:
                manifests.append(raw)
    if not manifests:
        raise NotVerified("no signature manifest")
    problems = []
    for raw in manifests:
        manifest = json.loads(raw)
        for layer in manifest.get("layers", []):
            if layer.get("mediaType") != PAYLOAD_TYPE:
                continue
            payload = get_blob(layer["digest"])
            if "sha256:" + hashlib.sha256(payload).hexdigest() != layer["digest"]:
                problems.append("a payload blob does not match its digest")
                continue
            try:
                document = verify_payload(payload, layer.get("annotations", {}).get(ANNOTATION, ""), public_pem,
                                          image_digest, reference)
            except NotVerified as exc:
                problems.append(str(exc))
                continue
            return Verified(manifest, document)
    raise NotVerified("; ".join(problems) or "no simple-signing layer")
