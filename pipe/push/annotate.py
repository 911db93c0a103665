"""Manifests as the pipe pushes them: OCI media types, with the build's annotations.

Docker's schema 2 has no annotations, so an image from ``docker save`` (or one already in the
registry under Docker types) is pushed as an OCI image manifest: the config and gzip layers are the
same bytes, only their media types change. Indexes of an OCI layout get the annotations too, with
their children re-pointed at the annotated manifests (attestation manifests that refer to a child
by digest follow it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from vocab.digests import digest_bytes
from vocab.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)

_AS_OCI = {DOCKER_CONFIG: OCI_CONFIG, DOCKER_LAYER_GZIP: OCI_LAYER_GZIP}
# buildx's attestation manifests name the image they describe with this index annotation.
REFERENCE_DIGEST = "vnd.docker.reference.digest"


def canonical_json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _descriptor(blob: Mapping) -> dict:
    result = {"mediaType": _AS_OCI.get(str(blob.get("mediaType")), blob.get("mediaType")),
              "digest": blob["digest"], "size": int(blob["size"])}
    for key in ("urls", "annotations", "platform"):
        if blob.get(key):
            result[key] = blob[key]
    return result


def image_manifest(config: Mapping, layers: list[Mapping], annotations: Mapping[str, str]) -> bytes:
    """An OCI image manifest for this config and these layers (Docker media types become OCI's)."""
    document: dict = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _descriptor(config),
                      "layers": [_descriptor(layer) for layer in layers]}
    if annotations:
        document["annotations"] = dict(sorted(annotations.items()))
    return canonical_json(document)


@dataclass(frozen=True)
class Rewritten:
    body: bytes
    media_type: str
    digest: str


class LayoutAnnotator:
    """Annotates the manifests of an OCI layout, children first, remembering what each became."""

    def __init__(self, annotations: Mapping[str, str]) -> None:
        self.annotations = dict(annotations)
        self.replaced: dict[str, Rewritten] = {}

    def rewrite(self, digest: str, body: bytes, media_type: str) -> Rewritten:
        if not self.annotations or media_type not in (OCI_MANIFEST, OCI_INDEX):
            return Rewritten(body, media_type, digest)  # Docker types cannot carry annotations
        document = json.loads(body)
        if media_type == OCI_INDEX:
            document["manifests"] = [self._repoint(child) for child in document.get("manifests") or []]
        document["annotations"] = {**(document.get("annotations") or {}), **self.annotations}
        new_body = canonical_json(document)
        result = Rewritten(new_body, media_type, digest_bytes(new_body))
        self.replaced[digest] = result
        return result

    def _repoint(self, child: dict) -> dict:
        child = dict(child)
        new = self.replaced.get(str(child.get("digest")))
        if new is not None:
            child["digest"], child["size"] = new.digest, len(new.body)
        annotations = child.get("annotations") or {}
        target = self.replaced.get(str(annotations.get(REFERENCE_DIGEST)))
        if target is not None:
            child["annotations"] = {**annotations, REFERENCE_DIGEST: target.digest}
        return child
