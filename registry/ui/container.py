"""What the container image pages show, read from the OCI store and the blob store.

Manifests and configs are the pushers' JSON: read defensively (any field may be missing or of the
wrong type), and never trusted as markup (the templates escape everything).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from registry.access.models import Package
from registry.lru import BudgetLru
from registry.oci.store import OciStore
from registry.offload import off_loop
from registry.storage.blobs import BlobNotFound, BlobStore
from vocab import mediatypes

# What one page reads, at most: a config larger than MAX_CONFIG_BYTES is not read at all; past the
# page's budget of config reads (count and bytes) and of an index's images looked up, the page shows
# what the manifests themselves say ("—" for the rest). What was read is kept (by digest: always
# right), so the next view reads nothing again.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_PAGE_CONFIGS = 50
MAX_PAGE_CONFIG_BYTES = 8 * 1024 * 1024
MAX_PAGE_CHILDREN = 200
MAX_PAGE_MANIFEST_BYTES = 4 * 1024 * 1024  # of manifests parsed for a list of tags
LIST_CONTENT_BYTES = 64 * 1024  # manifests up to this size come with the list; larger ones one by one
MAX_TAGS_SHOWN = 500
MAX_LABELS_SHOWN = 500
MAX_REFERRERS_SHOWN = 200
SUMMARY_BUDGET = 16 * 1024 * 1024  # bytes of configs and manifests whose summaries are kept


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
    pretty: str
    config: Descriptor | None = None
    layers: list[Descriptor] = field(default_factory=list)  # on the manifest's own page
    layer_count: int = 0
    children: list[Descriptor] = field(default_factory=list)  # an index's images
    annotations: dict[str, str] = field(default_factory=dict)
    config_pretty: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    platform: str = ""  # an image's os/architecture, from its config

    @property
    def platforms(self) -> list[str]:
        return [child.platform for child in self.children if child.platform]


@dataclass(frozen=True)
class ConfigSummary:
    """What the pages show of an image config."""

    labels: dict[str, str]
    created: str
    platform: str


@dataclass(frozen=True)
class ImageSummary:
    """What an index's row shows of one of its images."""

    size: int
    created: str
    platform: str


@dataclass
class PageReads:
    """What one page may still read (see MAX_PAGE_*)."""

    configs: int = MAX_PAGE_CONFIGS
    config_bytes: int = MAX_PAGE_CONFIG_BYTES
    children: int = MAX_PAGE_CHILDREN
    manifest_bytes: int = MAX_PAGE_MANIFEST_BYTES

    skipped: int = 0  # reads refused for the budget: what was shown meanwhile is incomplete

    def take_config(self, size: int) -> bool:
        if size > MAX_CONFIG_BYTES:
            return False
        if self.configs <= 0 or size > self.config_bytes:
            self.skipped += 1
            return False
        self.configs -= 1
        self.config_bytes -= size
        return True

    def take_manifest(self, size: int) -> bool:
        if size > self.manifest_bytes:
            self.skipped += 1
            return False
        self.manifest_bytes -= size
        return True

    def take_child(self) -> bool:
        if self.children <= 0:
            self.skipped += 1
            return False
        self.children -= 1
        return True


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
    # Manifests stored before sizes were checked at push may say 10**400: no size at all.
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else 0


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int, float))}


def _platform(value: object) -> str:
    if not isinstance(value, dict):
        return ""
    parts = [value[key] for key in ("os", "architecture", "variant") if isinstance(value.get(key), str)]
    return "/".join(parts)


def _summarize_config(raw: bytes) -> ConfigSummary:
    config = _json(raw)
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    labels = inner.get("Labels") if isinstance(inner.get("Labels"), dict) else {}
    return ConfigSummary(labels=_str_map(dict(list(labels.items())[:MAX_LABELS_SHOWN])),
                         created=config["created"] if isinstance(config.get("created"), str) else "",
                         platform=_platform(config))


def _config_and_pretty(raw: bytes) -> tuple[ConfigSummary, str]:
    return _summarize_config(raw), _pretty(raw)


def _parse_manifest(digest: str, content: bytes, media_type: str, full: bool) -> ManifestView:
    """What the manifest itself says (CPU-bound for a large one: run off the loop). The parsed
    document is not kept: freeing a large one takes a while too, and is done here, in the thread."""
    document = _json(content)
    is_index = media_type in mediatypes.INDEXES or ("manifests" in document and "layers" not in document)
    view = ManifestView(digest=digest, media_type=media_type, is_index=is_index, size=0, created="",
                        pretty=_pretty(content) if full else "",
                        annotations=_str_map(document.get("annotations")))
    if is_index:
        entries = document.get("manifests") if isinstance(document.get("manifests"), list) else []
        view.children = [d for d in map(_descriptor, entries) if d is not None]
        return view
    layers = document.get("layers") if isinstance(document.get("layers"), list) else []
    view.config = _descriptor(document.get("config"))
    if full:
        view.layers = [d for d in map(_descriptor, layers) if d is not None]
        view.layer_count = len(view.layers)
        layer_sizes = sum(layer.size for layer in view.layers)
    else:  # a row of a list: the count and the sizes are enough
        counted = [layer for layer in layers if isinstance(layer, dict) and isinstance(layer.get("digest"), str)]
        view.layer_count = len(counted)
        layer_sizes = sum(_int(layer.get("size")) for layer in counted)
    view.size = layer_sizes + (view.config.size if view.config else 0)
    return view


def _descriptor(value: object) -> Descriptor | None:
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
        return None
    return Descriptor(
        digest=value["digest"], media_type=str(value.get("mediaType") or ""), size=_int(value.get("size")),
        platform=_platform(value.get("platform")), artifact_type=str(value.get("artifactType") or ""),
        annotations=_str_map(value.get("annotations")),
    )


class ContainerPages:
    """The pages' views of manifests. Parsing runs off the event loop, each config and each image
    of an index is read at most once per page within the page's budget, and their summaries are kept
    between views by digest."""

    def __init__(self, store: OciStore, blobs: BlobStore) -> None:
        self.store = store
        self.blobs = blobs
        self.configs: BudgetLru[str, ConfigSummary] = BudgetLru(SUMMARY_BUDGET)
        self.images: BudgetLru[str, ImageSummary] = BudgetLru(SUMMARY_BUDGET)
        self.rows: BudgetLru[tuple[int, str], ManifestView] = BudgetLru(SUMMARY_BUDGET)  # tags pages' rows

    async def _config_bytes(self, digest: str, reads: PageReads | None) -> bytes | None:
        """The config blob, if it is small enough and the page may still read it (None: no budget)."""
        try:
            info = await self.blobs.stat(digest)
            if info.size > MAX_CONFIG_BYTES or (reads is not None and not reads.take_config(info.size)):
                return None
            parts = [chunk async for chunk in self.blobs.read(digest, 0, info.size)]
        except BlobNotFound:
            return None
        return b"".join(parts)

    async def _config(self, digest: str, reads: PageReads) -> ConfigSummary | None:
        summary = self.configs.get(digest)
        if summary is None:
            raw = await self._config_bytes(digest, reads)
            if raw is None:
                return None
            summary = await off_loop(len(raw), _summarize_config, raw)
            self.configs.put(digest, summary, len(raw))
        return summary

    async def manifest(self, package: Package, digest: str, content: bytes, media_type: str,
                       reads: PageReads, depth: int = 0, full: bool = False) -> ManifestView:
        """A manifest as shown: for an image its config (labels, created, platform); for an index its
        images (one level down, for their sizes). ``full``: with the pretty-printed JSON of the
        manifest and the config (the page of one manifest)."""
        view = await off_loop(len(content), _parse_manifest, digest, content, media_type, full)
        if view.is_index:
            for child in view.children if depth == 0 else []:
                summary = await self._image(package, child.digest, reads)
                if summary is not None:
                    view.size += summary.size
                    view.created = max(view.created, summary.created)
                    child.platform = child.platform or summary.platform
            return view
        if view.config is not None and view.config.media_type != mediatypes.OCI_EMPTY:
            if full:  # the one manifest's page: its config whole (within MAX_CONFIG_BYTES)
                config = None
                if (raw := await self._config_bytes(view.config.digest, None)) is not None:
                    config, view.config_pretty = await off_loop(len(raw), _config_and_pretty, raw)
            else:
                config = await self._config(view.config.digest, reads)
            if config is not None:
                view.labels, view.created, view.platform = config.labels, config.created, config.platform
        return view

    async def _image(self, package: Package, digest: str, reads: PageReads) -> ImageSummary | None:
        """Size, created and platform of an index's image: kept by digest, else looked up (within
        the page's budget)."""
        summary = self.images.get(digest)
        if summary is not None:
            return summary
        if not reads.take_child():
            return None
        row = await self.store.manifest_info(package.id, digest)
        if row is None:
            return None
        content = bytes(row["content"])
        skipped = reads.skipped
        view = await self.manifest(package, row["digest"], content, row["media_type"], reads, depth=1)
        summary = ImageSummary(view.size, view.created, view.platform)
        if reads.skipped == skipped:
            self.images.put(digest, summary, len(content))  # complete: nothing was left unread
        return summary

    async def tags(self, package: Package) -> list[TagView]:
        rows = await self.store.tags_with_manifests(package.id, MAX_TAGS_SHOWN, LIST_CONTENT_BYTES)
        seen: dict[str, ManifestView] = {}
        reads = PageReads()
        tags = []
        for row in rows:
            view = seen.get(row["digest"])
            if view is None:
                view = self.rows.get((package.id, row["digest"]))
            if view is None:
                skipped = reads.skipped
                if reads.take_manifest(int(row["size"])):
                    content = row["content"]
                    if content is None:  # a large one, read on its own
                        stored = await self.store.manifest_info(package.id, row["digest"])
                        content = stored["content"] if stored is not None else b"{}"
                    view = await self.manifest(package, row["digest"], bytes(content), row["media_type"], reads)
                    if reads.skipped == skipped:  # complete: kept for the next views
                        self.rows.put((package.id, row["digest"]), view, int(row["size"]))
                else:  # past the page's budget: what the row itself says
                    view = ManifestView(digest=row["digest"], media_type=row["media_type"], size=0, created="",
                                        is_index=row["media_type"] in mediatypes.INDEXES, pretty="")
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
        return await self.manifest(package, row["digest"], bytes(row["content"]), row["media_type"], PageReads(),
                                   full=True)

    async def referrers(self, package: Package, digest: str) -> list[Descriptor]:
        rows = (await self.store.referrers(package.id, digest, None))[:MAX_REFERRERS_SHOWN]
        return await off_loop(sum(len(row["content"]) for row in rows), _referrer_descriptors, rows)


def _referrer_descriptors(rows: list) -> list[Descriptor]:
    return [Descriptor(digest=row["digest"], media_type=row["media_type"], size=int(row["size"]),
                       artifact_type=row["artifact_type"] or "",
                       annotations=_str_map(_json(bytes(row["content"])).get("annotations")))
            for row in rows]
