"""Verifying cosign signatures of images against a workspace's trusted keys, and the pull policy
"pull requires a trusted signature".

Written from cosign's format (not shared with the pipe's signer or the tests' checker): the
signatures of the image ``sha256:<hex>`` are the layers of its signature manifests in the same
package, which cosign stores in two ways: under the tag ``sha256-<hex>.sig`` (its default), and as
OCI 1.1 referrers of the image without a tag (``cosign sign --registry-referrers-mode=oci-1-1``:
artifact type, or config media type, ``application/vnd.dev.cosign.artifact.sig.v1+json``). Each
layer of media type ``application/vnd.dev.cosign.simplesigning.v1+json`` is a simple-signing payload
(JSON; ``critical.image.docker-manifest-digest`` names the image) with an ECDSA P-256 / SHA-256
signature over the payload's bytes, base64, in the layer annotation ``dev.cosignproject.cosign/signature``.

Everything read here was pushed by users: at most MAX_SIGNATURE_REFERRERS referrer manifests (the
newest) of up to MAX_SIGNATURE_MANIFEST_BYTES are read besides the tagged one, their layers are
counted and sized before anything else is read, payloads are read up to MAX_PAYLOAD_BYTES, and
parsing and the ECDSA checks run in a thread. Results are kept per (image, signature manifests,
trusted keys): a new signature moves the ``.sig`` tag or adds a referrer, and a key added or removed
changes the keys, so a kept result is never stale.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from registry.access.models import Package
from registry.lru import BudgetLru
from registry.oci import errors
from registry.oci.store import OciStore, StoredManifest
from registry.offload import off_loop
from registry.storage.blobs import BlobNotFound, BlobStore
from registry.trust import TrustedKey, TrustStore
from vocab.cosign import SIGNATURE_ANNOTATION, SIGNATURE_ARTIFACT, SIMPLE_SIGNING, signature_tag

# The tags cosign keeps its artifacts under: signatures, attestations, SBOMs.
COSIGN_TAG = re.compile(r"sha256-[0-9a-f]{64}\.(?:sig|att|sbom)")
MAX_SIGNATURE_LAYERS = 16  # signatures looked at per signature manifest (cosign appends one per `cosign sign`)
MAX_SIGNATURES = 32  # signatures looked at per image, over its tagged and its referrer signature manifests
MAX_SIGNATURE_REFERRERS = 8  # referrer signature manifests read per image (the newest)
MAX_SIGNATURE_MANIFEST_BYTES = 64 * 1024  # a referrer signature manifest larger than this is not read (~150 signatures)
MAX_PAYLOAD_BYTES = 64 * 1024  # a simple-signing payload is a few hundred bytes
MAX_SIGNATURE_CHARS = 1024  # base64 of a DER ECDSA P-256 signature is under 100
MAX_PARENTS_CHECKED = 16  # indexes whose signature may cover an image pulled by digest
CACHE_BUDGET = 4096  # results kept (each counted as one)

VERIFIED, UNTRUSTED, UNSIGNED = "verified", "untrusted", "unsigned"


@dataclass(frozen=True)
class SignatureStatus:
    state: str  # VERIFIED, UNTRUSTED (signed, but no trusted key verifies a signature) or UNSIGNED
    key_name: str = ""  # the trusted key that verified it
    reason: str = ""  # why it is not verified (for the pages and the DENIED message)

    @property
    def verified(self) -> bool:
        return self.state == VERIFIED


@dataclass(frozen=True)
class _Layer:
    digest: str
    size: int
    signature: str


def _signature_layers(contents: list[bytes]) -> list[_Layer]:
    """The simple-signing layers of signature manifests, in order (at most MAX_SIGNATURE_LAYERS of each,
    MAX_SIGNATURES in all; one signature found in two manifests counts once)."""
    found: dict[tuple[str, str], _Layer] = {}
    for content in contents:
        try:
            document = json.loads(content)
        except (ValueError, RecursionError):
            continue
        layers = document.get("layers") if isinstance(document, dict) else None
        taken = 0
        for layer in layers if isinstance(layers, list) else []:
            if taken >= MAX_SIGNATURE_LAYERS or len(found) >= MAX_SIGNATURES:
                break
            if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING:
                continue
            digest, size, annotations = layer.get("digest"), layer.get("size"), layer.get("annotations")
            signature = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
            if (isinstance(digest, str) and digest.startswith("sha256:") and isinstance(size, int)
                    and isinstance(signature, str) and len(signature) <= MAX_SIGNATURE_CHARS):
                found.setdefault((digest, signature), _Layer(digest, size, signature))
                taken += 1
    return list(found.values())


def _claimed_digest(payload: bytes) -> str | None:
    try:
        document = json.loads(payload)
        claimed = document["critical"]["image"]["docker-manifest-digest"]
    except (ValueError, RecursionError, KeyError, TypeError):
        return None
    return claimed if isinstance(claimed, str) else None


def verify_ecdsa(public_key_pem: str, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` (DER ECDSA) over ``message`` (SHA-256) is by this P-256 key."""
    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _decide(image_digest: str, layers: list[_Layer], payloads: dict[str, bytes],
            keys: tuple[TrustedKey, ...]) -> SignatureStatus:
    """CPU-bound (hashing, JSON, ECDSA per key and signature): run in a thread."""
    reasons = []
    for layer in layers:
        payload = payloads.get(layer.digest)
        if payload is None:
            reasons.append("a signature payload is missing or too large")
            continue
        if "sha256:" + hashlib.sha256(payload).hexdigest() != layer.digest:
            reasons.append("a signature payload does not match its digest")
            continue
        if _claimed_digest(payload) != image_digest:
            reasons.append("its signature is for another image")
            continue
        try:
            signature = base64.b64decode(layer.signature, validate=True)
        except (binascii.Error, ValueError):
            reasons.append("a signature is not base64")
            continue
        for key in keys:
            if verify_ecdsa(key.public_key, signature, payload):
                return SignatureStatus(VERIFIED, key_name=key.name)
        reasons.append("it is signed by no key the workspace trusts" if keys
                       else "the workspace trusts no keys yet")
    return SignatureStatus(UNTRUSTED, reason=reasons[-1] if reasons else "its signature manifest holds no signatures")


class SignatureVerifier:
    def __init__(self, store: OciStore, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs
        self.results: BudgetLru[tuple, SignatureStatus] = BudgetLru(CACHE_BUDGET)

    async def status(self, package: Package, digest: str, keys: list[TrustedKey]) -> SignatureStatus:
        manifests = await self._signature_manifests(package, digest)
        if not manifests:
            return SignatureStatus(UNSIGNED, reason="it has no signature")
        cache_key = (package.id, digest, tuple(manifests), tuple((key.fingerprint, key.name) for key in keys))
        cached = self.results.get(cache_key)
        if cached is not None:
            return cached
        contents = [content for content in manifests.values() if content is not None]
        layers = await off_loop(sum(map(len, contents)), _signature_layers, contents)
        payloads = {layer.digest: payload for layer in layers
                    if (payload := await self._payload(layer)) is not None}
        result = await asyncio.to_thread(_decide, digest, layers, payloads, tuple(keys))
        self.results.put(cache_key, result, 1)
        return result

    async def _signature_manifests(self, package: Package, digest: str) -> dict[str, bytes | None]:
        """The image's signature manifests by digest: the one tagged ``sha256-<hex>.sig`` first, then its
        newest referrers of cosign's signature type (content None: too large to read)."""
        manifests: dict[str, bytes | None] = {}
        tagged = await self.store.get_manifest(package.id, signature_tag(digest), by_digest=False)
        if tagged is not None:
            manifests[tagged.digest] = tagged.content
        for row in await self.store.newest_referrers(package.id, digest, SIGNATURE_ARTIFACT, MAX_SIGNATURE_REFERRERS,
                                                     MAX_SIGNATURE_MANIFEST_BYTES):
            content = row["content"]
            manifests.setdefault(row["digest"], bytes(content) if content is not None else None)
        return manifests

    async def covering(self, package: Package, digest: str, keys: list[TrustedKey]) -> tuple[SignatureStatus, str]:
        """(status, index digest): the image's own status, or, if that is not verified, the verified
        status of an index of the package that lists it (a signed index's signature covers its
        children's digests); the index digest is "" when the image's own status is the answer."""
        status = await self.status(package, digest, keys)
        if status.verified:
            return status, ""
        for parent in await self.store.parents(package.id, digest, MAX_PARENTS_CHECKED):
            if (covered := await self.status(package, parent, keys)).verified:
                return covered, parent
        return status, ""

    async def _payload(self, layer: _Layer) -> bytes | None:
        if not 0 <= layer.size <= MAX_PAYLOAD_BYTES:
            return None
        try:
            info = await self.blobs.stat(layer.digest)
            if info.size > MAX_PAYLOAD_BYTES:
                return None
            return b"".join([chunk async for chunk in self.blobs.read(layer.digest, 0, info.size)])
        except BlobNotFound:
            return None


def _is_artifact(content: bytes) -> bool:
    """Whether a manifest is no runnable image: an index (its images are checked on their own) or a
    manifest whose layers are all JSON documents (signatures, attestations, SBOMs), which no container
    engine unpacks. Anything else, or anything unreadable, counts as an image."""
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        return False
    if not isinstance(document, dict):
        return False
    layers = document.get("layers")
    if layers is None:
        return isinstance(document.get("manifests"), list)
    return isinstance(layers, list) and all(
        isinstance(layer, dict) and isinstance(layer.get("mediaType"), str)
        and (layer["mediaType"].endswith("+json") or layer["mediaType"] == "application/json") for layer in layers)


class PullPolicy:
    """"Pull requires a trusted signature", per container package. What stays pullable without a
    signature of its own: cosign's artifacts (tags ``sha256-<hex>.sig|att|sbom``) and referrers
    (manifests with a subject: signatures, SBOMs, provenance) as long as they are no runnable image
    (a writer cannot slip an image past the policy by giving it a subject or such a tag), and the
    images of a signed index (a child of a verified index counts as signed: the index's signature
    covers its children's digests)."""

    def __init__(self, store: OciStore, verifier: SignatureVerifier, trust: TrustStore) -> None:
        self.store = store
        self.verifier = verifier
        self.trust = trust

    async def check(self, package: Package, manifest: StoredManifest, reference: str, by_digest: bool) -> None:
        """Raise DENIED if the package requires a trusted signature and this manifest has none."""
        if not await self.trust.requires_signature(package.id):
            return
        if await self._is_attachment(package, manifest, reference, by_digest):
            return
        status, _ = await self.verifier.covering(package, manifest.digest, await self.trust.keys(package.workspace))
        if status.verified:
            return
        raise errors.denied(f"pulling {package.full_name}@{manifest.digest} requires a signature by a key workspace "
                            f"{package.workspace} trusts, and {status.reason}: sign the image with a trusted key, "
                            f"or ask an admin of the package to turn the signature policy off")

    async def _is_attachment(self, package: Package, manifest: StoredManifest, reference: str, by_digest: bool) -> bool:
        """A signature, attestation or SBOM of another manifest (by subject or by cosign's tag)."""
        attached = bool(manifest.subject) or (not by_digest and COSIGN_TAG.fullmatch(reference) is not None)
        if not attached and by_digest:
            attached = any(COSIGN_TAG.fullmatch(tag) for tag in await self.store.tags_of(package.id, manifest.digest))
        return attached and await off_loop(len(manifest.content), _is_artifact, manifest.content)
