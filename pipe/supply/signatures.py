"""cosign's signature format, written for an image just pushed.

The payload is a "simple signing" document naming the image (``critical.identity.docker-reference``)
and its manifest digest (``critical.image.docker-manifest-digest``); the signature is ECDSA P-256
with SHA-256 over the payload's bytes, base64, in the layer annotation
``dev.cosignproject.cosign/signature``. The signature manifest is stored under the tag
``sha256-<hex>.sig`` (where `cosign verify` and containers/image look), and has the image as its
``subject``, so it is also an OCI 1.1 referrer of the image.
"""

from __future__ import annotations

import base64
import io

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from pipe.oci.client import RegistryClient
from pipe.push.annotate import canonical_json
from pipe.supply.attach import Attached
from vocab.cosign import SIGNATURE_ANNOTATION, SIGNATURE_ARTIFACT, SIMPLE_SIGNING, signature_tag
from vocab.digests import digest_bytes
from vocab.mediatypes import OCI_CONFIG, OCI_MANIFEST


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    # The field order of cosign's own payloads (Go's json.Marshal of its struct), no whitespace.
    return canonical_json({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    })


def sign(key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    return base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()


def artifact_manifest(layers: list[tuple[bytes, str, dict[str, str]]], subject: dict, artifact_type: str,
                      config_media_type: str = OCI_CONFIG, config: bytes | None = None,
                      annotations: dict[str, str] | None = None) -> tuple[bytes, list[tuple[str, bytes]]]:
    """An OCI image manifest of ``layers`` (bytes, media type, annotations) with ``subject``; returns its
    bytes and the blobs (digest, bytes) to upload first."""
    digests = [digest_bytes(data) for data, _, _ in layers]
    config = config if config is not None else canonical_json({
        "architecture": "", "os": "", "config": {}, "created": "0001-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": digests},
    })
    config_digest = digest_bytes(config)
    blobs = [(config_digest, config)] + [(digest, data) for digest, (data, _, _) in zip(digests, layers, strict=True)]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": config_media_type, "size": len(config), "digest": config_digest},
        "layers": [{"mediaType": media_type, "size": len(data), "digest": digest,
                    **({"annotations": notes} if notes else {})}
                   for digest, (data, media_type, notes) in zip(digests, layers, strict=True)],
        "subject": subject,
    }
    if annotations:
        manifest["annotations"] = annotations
    return canonical_json(manifest), blobs


def push_artifact(client: RegistryClient, name: str, manifest: bytes, blobs: list[tuple[str, bytes]],
                  reference: str | None) -> str:
    """Upload the blobs the registry lacks, then the manifest under ``reference`` (a tag), or by its own
    digest when it needs none (a referrer is found through its subject)."""
    for digest, data in blobs:
        if client.blob_size(name, digest) is None:
            client.upload(name, digest, len(data), lambda data=data: io.BytesIO(data))
    return client.put_manifest(name, reference or digest_bytes(manifest), manifest, OCI_MANIFEST)


def sign_image(client: RegistryClient, key: ec.EllipticCurvePrivateKey, name: str, docker_reference: str,
               subject: dict) -> Attached:
    """Sign the image ``subject`` (its descriptor) and push the signature; ``docker_reference`` is
    ``host/workspace/image`` as the signature names it."""
    digest = subject["digest"]
    payload = simple_signing_payload(docker_reference, digest)
    layer = (payload, SIMPLE_SIGNING, {SIGNATURE_ANNOTATION: sign(key, payload)})
    manifest, blobs = artifact_manifest([layer], subject, SIGNATURE_ARTIFACT)
    tag = signature_tag(digest)
    return Attached("signature", push_artifact(client, name, manifest, blobs, tag), tag)
