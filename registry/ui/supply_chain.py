"""What the container pages show of an image's supply chain: its signature status (against the
workspace's trusted keys), the provenance summary of its in-toto referrer, and the component list of
its CycloneDX SBOM referrer.

Referrers are blobs pushed by users: each is sized before it is read (MAX_PROVENANCE_BYTES,
MAX_SBOM_BYTES), parsed in a thread, every field read defensively (any may be missing or of the wrong
type), and never trusted as markup (the templates escape everything). Parsed documents are kept by
blob digest (always right), so the next view reads nothing again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from registry.access.models import Package
from registry.lru import BudgetLru
from registry.oci.signatures import SignatureStatus, SignatureVerifier, verify_ecdsa
from registry.oci.store import OciStore
from registry.offload import off_loop
from registry.storage.blobs import BlobNotFound, BlobStore
from registry.trust import TrustedKey, TrustStore

IN_TOTO = "application/vnd.in-toto+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
MAX_PROVENANCE_BYTES = 1024 * 1024
MAX_SBOM_BYTES = 16 * 1024 * 1024
MAX_COMPONENTS_KEPT = 50_000  # of one SBOM (the rest is counted, not searched)
MAX_COMPONENTS_SHOWN = 500  # per page, after the search
MAX_QUERY = 200
MAX_FIELD = 1000  # characters of any one value shown
PARSED_BUDGET = 32 * 1024 * 1024  # bytes of SBOM documents whose parsed component lists are kept


@dataclass(frozen=True)
class Provenance:
    digest: str  # of the referrer manifest
    builder: str = ""
    build: str = ""  # the invocation (the pipeline run)
    repository: str = ""
    commit: str = ""
    ref: str = ""  # branch or tag (refs/heads/..., refs/tags/...)
    dockerfile: str = ""
    finished: str = ""
    signed_by: str = ""  # the trusted key that verified the DSSE envelope
    signed: bool = False  # a DSSE envelope with signatures
    problem: str = ""  # why nothing could be shown


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    purl: str
    type: str


@dataclass
class Sbom:
    digest: str  # of the referrer manifest
    components: list[Component] = field(default_factory=list)
    total: int = 0
    problem: str = ""


@dataclass
class SbomPage:
    """What one view shows of an SBOM: the components matching the search, capped."""

    digest: str
    shown: list[Component]
    matching: int
    searched: int  # components searched (the first MAX_COMPONENTS_KEPT)
    total: int  # components the SBOM lists
    query: str
    problem: str = ""


@dataclass(frozen=True)
class _Envelope:
    statement: dict
    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]


def _text(value: object) -> str:
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _open_envelope(raw: bytes) -> _Envelope | None:
    """The in-toto statement of a referrer layer: a DSSE envelope (payload base64) or the bare statement."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    if "payload" not in document:
        return _Envelope(document, "", b"", ())
    encoded = document.get("payload")
    if not isinstance(encoded, str):
        return None
    try:
        payload = base64.b64decode(encoded, validate=True)
        statement = json.loads(payload)
    except (binascii.Error, ValueError, RecursionError):
        return None
    signatures = []
    for entry in document.get("signatures") if isinstance(document.get("signatures"), list) else []:
        try:
            signatures.append(base64.b64decode(_text(_dict(entry).get("sig")), validate=True))
        except (binascii.Error, ValueError):
            continue
    return _Envelope(_dict(statement), _text(document.get("payloadType")), payload, tuple(signatures))


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the envelope's signatures sign."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _provenance(digest: str, raw: bytes, image_digest: str, keys: tuple[TrustedKey, ...]) -> Provenance:
    """CPU-bound (JSON, base64, ECDSA per key): run in a thread."""
    envelope = _open_envelope(raw)
    if envelope is None:
        return Provenance(digest, problem="not an in-toto statement or DSSE envelope")
    statement = envelope.statement
    subjects = statement.get("subject") if isinstance(statement.get("subject"), list) else []
    algorithm, _, hex_part = image_digest.partition(":")
    if not any(_dict(_dict(subject).get("digest")).get(algorithm) == hex_part for subject in subjects):
        return Provenance(digest, problem="its statement is about another image")
    predicate = _dict(statement.get("predicate"))
    definition, run = _dict(predicate.get("buildDefinition")), _dict(predicate.get("runDetails"))
    external = _dict(definition.get("externalParameters"))
    source = _dict(external.get("source"))
    metadata = _dict(run.get("metadata"))
    signed_by = ""
    if envelope.signatures:
        message = _pae(envelope.payload_type, envelope.payload)
        signed_by = next((key.name for key in keys for signature in envelope.signatures
                          if verify_ecdsa(key.public_key, signature, message)), "")
    return Provenance(
        digest, builder=_text(_dict(run.get("builder")).get("id")), build=_text(metadata.get("invocationId")),
        repository=_text(source.get("repository")), commit=_text(source.get("commit")), ref=_text(source.get("ref")),
        dockerfile=_text(external.get("dockerfile")), finished=_text(metadata.get("finishedOn")),
        signed_by=signed_by, signed=bool(envelope.signatures))


def _sbom(digest: str, raw: bytes) -> Sbom:
    """CPU-bound (JSON of up to MAX_SBOM_BYTES): run in a thread."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return Sbom(digest, problem="not a CycloneDX JSON document")
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        return Sbom(digest, problem="not a CycloneDX JSON document")
    entries = document.get("components") if isinstance(document.get("components"), list) else []
    components = [Component(_text(entry.get("name")), _text(entry.get("version")), _text(entry.get("purl")),
                            _text(entry.get("type")))
                  for entry in entries[:MAX_COMPONENTS_KEPT] if isinstance(entry, dict)]
    components.sort(key=lambda component: (component.name.lower(), component.version))
    return Sbom(digest, components, total=len(entries))


def _search(sbom: Sbom, query: str) -> SbomPage:
    needle = query.lower()
    matching = [component for component in sbom.components
                if not needle or needle in component.name.lower() or needle in component.purl.lower()]
    return SbomPage(sbom.digest, matching[:MAX_COMPONENTS_SHOWN], len(matching), len(sbom.components), sbom.total,
                    query, sbom.problem)


def _first_descriptor(content: bytes) -> tuple[object, object] | None:
    try:
        layer = json.loads(content)["layers"][0]
        return layer["digest"], layer["size"]
    except (ValueError, RecursionError, KeyError, IndexError, TypeError):
        return None


class SupplyChainPages:
    def __init__(self, store: OciStore, blobs: BlobStore, trust: TrustStore) -> None:
        self.store = store
        self.blobs = blobs
        self.trust = trust
        self.verifier = SignatureVerifier(store, blobs)
        self.sboms: BudgetLru[str, Sbom] = BudgetLru(PARSED_BUDGET)

    async def trusted_keys(self, package: Package) -> list[TrustedKey]:
        """The keys of the package's workspace, read once per page for ``signature`` and ``provenance``."""
        return await self.trust.keys(package.workspace)

    async def signature(self, package: Package, digest: str, keys: list[TrustedKey]) -> tuple[SignatureStatus, str]:
        """The image's signature status, and the signed index that covers it ("" for its own)."""
        return await self.verifier.covering(package, digest, keys)

    async def _first_layer(self, package: Package, referrer_digest: str, limit: int) -> tuple[str, bytes] | str:
        """(layer digest, bytes) of a referrer's first layer, or why it cannot be read."""
        row = await self.store.manifest_info(package.id, referrer_digest)
        if row is None:
            return "gone"
        content = bytes(row["content"])
        layer = await off_loop(len(content), _first_descriptor, content)
        if layer is None:
            return "its manifest has no layer"
        digest, size = layer
        if not isinstance(digest, str) or not isinstance(size, int) or not 0 <= size <= limit:
            return f"larger than the {limit // 1024 // 1024} MiB the pages read"
        try:
            info = await self.blobs.stat(digest)
            if info.size > limit:
                return f"larger than the {limit // 1024 // 1024} MiB the pages read"
            return digest, b"".join([chunk async for chunk in self.blobs.read(digest, 0, info.size)])
        except BlobNotFound:
            return "its content is missing"

    async def provenance(self, package: Package, image_digest: str, referrer_digests: list[str],
                         keys: list[TrustedKey]) -> Provenance | None:
        """The summary of the image's in-toto referrer (the first by digest, should it have several;
        None: it has none)."""
        if not referrer_digests:
            return None
        digest = referrer_digests[0]
        read = await self._first_layer(package, digest, MAX_PROVENANCE_BYTES)
        if isinstance(read, str):
            return Provenance(digest, problem=read)
        return await asyncio.to_thread(_provenance, digest, read[1], image_digest, tuple(keys))

    async def sbom(self, package: Package, referrer_digests: list[str], query: str) -> SbomPage | None:
        """The components of the image's SBOM referrer matching ``query`` (None: it has no SBOM)."""
        if not referrer_digests:
            return None
        digest = referrer_digests[0]
        query = query[:MAX_QUERY]
        sbom = self.sboms.get(digest)
        if sbom is None:
            read = await self._first_layer(package, digest, MAX_SBOM_BYTES)
            if isinstance(read, str):
                return SbomPage(digest, [], 0, 0, 0, query, read)
            sbom = await asyncio.to_thread(_sbom, digest, read[1])
            self.sboms.put(digest, sbom, len(read[1]))
        return await asyncio.to_thread(_search, sbom, query)


def referrer_digests(referrers: list[Any], artifact_type: str) -> list[str]:
    return [r.digest for r in referrers if r.artifact_type == artifact_type]
