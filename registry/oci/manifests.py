"""Manifest parsing and validation: what a pushed manifest refers to and says of itself."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from registry.oci.errors import manifest_invalid
from vocab import mediatypes
from vocab.digests import InvalidDigest, is_digest

# A descriptor's size is an int64 in the spec (and in every client): larger is no size at all.
MAX_SIZE = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    # config and layers: must be blobs of the repository (but for non-distributable layers with urls)
    blobs: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)  # index entries: must be manifests of the repository
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def _descriptor(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise manifest_invalid(f"{where} is not a descriptor object")
    digest, size, media_type = value.get("digest"), value.get("size"), value.get("mediaType")
    if not isinstance(digest, str) or not is_digest(digest):
        raise manifest_invalid(f"{where} has an invalid digest")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise manifest_invalid(f"{where} has an invalid size")
    if not isinstance(media_type, str) or not media_type:
        raise manifest_invalid(f"{where} has no mediaType")
    return value


def _foreign(layer: dict) -> bool:
    """A non-distributable layer with the addresses of its content: the registry need not hold it."""
    urls = layer.get("urls")
    return (layer["mediaType"] in mediatypes.NON_DISTRIBUTABLE_LAYERS and isinstance(urls, list) and bool(urls)
            and all(isinstance(url, str) and url.startswith(("https://", "http://")) for url in urls))


def parse(content: bytes, content_type: str) -> ParsedManifest:
    """Validate a manifest as pushed. ``content_type`` is the request's Content-Type header."""
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        raise manifest_invalid("manifest is not valid JSON") from None
    if not isinstance(document, dict):
        raise manifest_invalid("manifest is not a JSON object")
    declared = document.get("mediaType")
    header = content_type.split(";", 1)[0].strip()
    if declared is not None and not isinstance(declared, str):
        raise manifest_invalid("mediaType is not a string")
    if declared and header and header in mediatypes.MANIFESTS and declared != header:
        raise manifest_invalid(f"mediaType {declared} does not match Content-Type {header}")
    media_type = declared or header
    if media_type not in mediatypes.MANIFESTS:
        # An OCI manifest may omit mediaType; recognise it by shape when the header does not say.
        if "layers" in document and "config" in document:
            media_type = mediatypes.OCI_MANIFEST
        elif "manifests" in document:
            media_type = mediatypes.OCI_INDEX
        else:
            raise manifest_invalid(f"unsupported manifest media type {media_type[:100]!r}")
    if document.get("schemaVersion") != 2:
        raise manifest_invalid("schemaVersion must be 2")

    annotations = document.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise manifest_invalid("annotations must map strings to strings")
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise manifest_invalid("artifactType is not a string")
    subject = None
    if document.get("subject") is not None:
        subject = _descriptor(document["subject"], "subject")["digest"]

    try:
        if media_type in mediatypes.IMAGE_MANIFESTS:
            config = _descriptor(document.get("config"), "config")
            layers = document.get("layers")
            if not isinstance(layers, list):
                raise manifest_invalid("layers is not a list")
            descriptors = [_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers)]
            blobs = [config["digest"]] + [layer["digest"] for layer in descriptors if not _foreign(layer)]
            if artifact_type is None and config["mediaType"] != mediatypes.OCI_EMPTY:
                artifact_type = config["mediaType"]
            return ParsedManifest(media_type, blobs=blobs, subject=subject, artifact_type=artifact_type,
                                  annotations=annotations)
        entries = document.get("manifests")
        if not isinstance(entries, list):
            raise manifest_invalid("manifests is not a list")
        children = [_descriptor(entry, f"manifests[{i}]")["digest"] for i, entry in enumerate(entries)]
        return ParsedManifest(media_type, manifests=children, subject=subject, artifact_type=artifact_type,
                              annotations=annotations)
    except InvalidDigest as exc:
        raise manifest_invalid(str(exc)) from None
