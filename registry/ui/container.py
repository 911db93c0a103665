"""What the container image pages show, read from the OCI store and the blob store.

Manifests and configs are the pushers' JSON: read defensively (any field may be missing or of the
wrong type), and never trusted as markup (the templates escape everything).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from registry.access.models import Package
from registry.oci.store import OciStore
from registry.storage.blobs import BlobNotFound, BlobStore
from vocab import mediatypes

MAX_CONFIG_BYTES = 1024 * 1024
MAX_TAGS_SHOWN = 500


@dataclass
class Descriptor:
    digest: str
    media_type: str
    size: int
    platform: str = ""
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ManifestView:
    digest: str
    media_type: str
    is_index: bool
    size: int  # of the image's content: config + layers (for an index: of all its images)
    created: str
    document: dict[str, Any]
    pretty: str
    config: Descriptor | None = None
    layers: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)  # an index's images
    annotations: dict[str, str] = field(default_factory=dict)
    config_document: dict[str, Any] | None = None
    config_pretty: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    platform: str = ""  # an image's os/architecture, from its config

    @property
    def platforms(self) -> list[str]:
        return [child.platform for child in self.children if child.platform]


@dataclass
class TagView:
    name: str
    updated_at: float
    manifest: ManifestView


def _json(content: bytes) -> dict[str, Any]:
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


def _pretty(content: bytes) -> str:
    try:
        return json.dumps(json.loads(content), indent=2, sort_keys=False)
    except (ValueError, RecursionError):
        return content.decode("utf-8", "replace")


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int, float))}


def _platform(value: object) -> str:
    if not isinstance(value, dict):
        return ""
    parts = [value[key] for key in ("os", "architecture", "variant") if isinstance(value.get(key), str)]
    return "/".join(parts)


def _descriptor(value: object) -> Descriptor | None:
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
        return None
    return Descriptor(
        digest=value["digest"], media_type=str(value.get("mediaType") or ""), size=_int(value.get("size")),
        platform=_platform(value.get("platform")), artifact_type=str(value.get("artifactType") or ""),
        annotations=_str_map(value.get("annotations")),
    )


class ContainerPages:
    def __init__(self, store: OciStore, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs

    async def _config(self, digest: str) -> bytes | None:
        try:
            info = await self.blobs.stat(digest)
            if info.size > MAX_CONFIG_BYTES:
                return None
            parts = [chunk async for chunk in self.blobs.read(digest, 0, info.size)]
        except BlobNotFound:
            return None
        return b"".join(parts)

    async def manifest(self, package: Package, digest: str, content: bytes, media_type: str,
                       created_at: float, depth: int = 0) -> ManifestView:
        """A manifest as shown: for an image its config (labels, created, platform); for an index its
        images (one level down, for their sizes)."""
        document = _json(content)
        is_index = media_type in mediatypes.INDEXES or (
            "manifests" in document and "layers" not in document)
        view = ManifestView(digest=digest, media_type=media_type, is_index=is_index, size=0, created="",
                            document=document, pretty=_pretty(content),
                            annotations=_str_map(document.get("annotations")))
        if is_index:
            entries = document.get("manifests") if isinstance(document.get("manifests"), list) else []
            view.children = [d for d in map(_descriptor, entries) if d is not None]
            for child in view.children:
                row = await self.store.manifest_info(package.id, child.digest) if depth == 0 else None
                if row is not None:
                    child_view = await self.manifest(package, row["digest"], bytes(row["content"]),
                                                     row["media_type"], row["created_at"], depth + 1)
                    view.size += child_view.size
                    view.created = max(view.created, child_view.created)
                    child.platform = child.platform or child_view.platform
            return view
        layers = document.get("layers") if isinstance(document.get("layers"), list) else []
        view.layers = [d for d in map(_descriptor, layers) if d is not None]
        view.config = _descriptor(document.get("config"))
        view.size = sum(layer.size for layer in view.layers) + (view.config.size if view.config else 0)
        if view.config is not None and view.config.media_type != mediatypes.OCI_EMPTY:
            raw = await self._config(view.config.digest)
            if raw is not None:
                config = _json(raw)
                view.config_document = config
                view.config_pretty = _pretty(raw)
                inner = config.get("config") if isinstance(config.get("config"), dict) else {}
                view.labels = _str_map(inner.get("Labels"))
                view.created = config["created"] if isinstance(config.get("created"), str) else ""
                view.platform = _platform(config)
        return view

    async def tags(self, package: Package) -> list[TagView]:
        rows = (await self.store.tags_with_manifests(package.id))[:MAX_TAGS_SHOWN]
        seen: dict[str, ManifestView] = {}
        tags = []
        for row in rows:
            view = seen.get(row["digest"])
            if view is None:
                view = await self.manifest(package, row["digest"], bytes(row["content"]), row["media_type"],
                                           row["created_at"])
                seen[row["digest"]] = view
            tags.append(TagView(row["name"], row["updated_at"], view))
        return tags

    async def reference(self, package: Package, tag: str | None, digest: str | None) -> ManifestView | None:
        if tag is not None:
            stored = await self.store.get_manifest(package.id, tag, by_digest=False)
            if stored is None:
                return None
            digest = stored.digest
        row = await self.store.manifest_info(package.id, digest or "")
        if row is None:
            return None
        return await self.manifest(package, row["digest"], bytes(row["content"]), row["media_type"],
                                   row["created_at"])

    async def referrers(self, package: Package, digest: str) -> list[Descriptor]:
        rows = await self.store.referrers(package.id, digest, None)
        found = []
        for row in rows:
            document = _json(bytes(row["content"]))
            found.append(Descriptor(digest=row["digest"], media_type=row["media_type"], size=int(row["size"]),
                                    artifact_type=row["artifact_type"] or "",
                                    annotations=_str_map(document.get("annotations"))))
        return found
