"""ACTION merge and copy: container images made elsewhere, put into a package of the registry.

- merge: per-platform images pushed by earlier steps (an x86 and an ARM runner, say) become one
  index, platforms read from their configs, as `docker buildx imagetools create` makes it (no buildx,
  no emulation: Pipelines has neither).
- copy: an image or a whole index (every platform, with its cosign signature and OCI referrers) from
  another registry (Docker Hub, ECR, any OCI registry), blobs streamed through, never stored whole:
  the way in for teams moving from another registry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipe.actions.common import Done
from pipe.config import Common, _pairs, load_common
from pipe.errors import PipeError
from pipe.oci.auth import Credentials
from pipe.oci.client import RegistryClient
from pipe.oci.errors import InvalidReference, RegistryError
from pipe.oci.reference import Registry, is_loopback, parse_image_reference
from pipe.oci.transport import Transport
from pipe.push.annotate import canonical_json
from pipe.push.transfer import INDEX_TYPES, Transfer
from pipe.supply.attach import SupplySettings, attach, result_fields
from vocab.mediatypes import OCI_INDEX
from vocab.names import is_valid_name, is_valid_tag

DOCKER_HUB = "registry-1.docker.io"


@dataclass
class Target:
    common: Common
    name: str  # workspace/image
    tags: list[str]
    annotations: dict[str, str]

    @property
    def client(self) -> RegistryClient:
        return RegistryClient(Transport(self.common.registry, self.common.credentials))


def load_target(variables: Mapping[str, Any], env: Mapping[str, str]) -> Target:
    common = load_common(variables, env)
    image = variables.get("IMAGE_NAME") or env.get("BITBUCKET_REPO_SLUG") or ""
    name = f"{common.workspace}/{image}"
    if not image or not is_valid_name(name):
        raise PipeError(f"IMAGE_NAME {image!r} is not a valid image name (it defaults to BITBUCKET_REPO_SLUG).")
    tags = [str(tag) for tag in variables.get("TAGS") or [] if str(tag).strip()] or ["latest"]
    bad = [tag for tag in tags if not is_valid_tag(tag)]
    if bad:
        raise PipeError(f"TAGS: {bad[0]!r} is not a valid tag.")
    return Target(common, name, tags, _pairs([str(item) for item in variables.get("ANNOTATIONS") or []], "ANNOTATIONS"))


def _platform(client: RegistryClient, name: str, manifest: dict, reference: str) -> dict:
    config = manifest.get("config") or {}
    try:
        document = json.loads(client.get_blob(name, str(config["digest"]), limit=4 * 1024 * 1024))
    except (KeyError, ValueError, RegistryError) as exc:
        raise PipeError(f"{reference}: its config cannot be read to learn its platform ({exc})") from None
    platform = {"architecture": document.get("architecture") or "", "os": document.get("os") or ""}
    if document.get("variant"):
        platform["variant"] = document["variant"]
    if document.get("os.version"):
        platform["os.version"] = document["os.version"]
    if not platform["architecture"] or not platform["os"]:
        raise PipeError(f"{reference}: its config names no os/architecture")
    return platform


def merge(target: Target, images: list[str], supply: SupplySettings | None, log: logging.Logger) -> Done:
    if len(images) < 1:
        raise PipeError("ACTION merge needs IMAGES: the per-platform images to put in one index, e.g. "
                        "IMAGES: ['acme/app:amd64', 'acme/app:arm64'].")
    client = target.client
    registry = target.common.registry
    entries, seen = [], {}
    for item in images:
        host, name, tag, digest = parse_image_reference(str(item))
        if host not in (None, registry.netloc):
            raise PipeError(f"IMAGES: {item} is in another registry; merge takes images of {registry.netloc} (use "
                            "ACTION: copy to bring images in first).")
        if not is_valid_name(name):
            raise PipeError(f"IMAGES: {item!r} is not an image reference (workspace/image:tag).")
        reference = digest or tag or "latest"
        manifest = client.get_manifest(name, reference)
        if manifest is None:
            raise PipeError(f"IMAGES: {registry.netloc}/{name}:{reference} does not exist (or the credentials "
                            "cannot see it).")
        document = json.loads(manifest.body)
        if manifest.media_type in INDEX_TYPES or "manifests" in document:
            raise PipeError(f"IMAGES: {item} is already an index; list the per-platform images instead.")
        platform = _platform(client, name, document, str(item))
        key = "/".join(platform.get(part, "") for part in ("os", "architecture", "variant"))
        if key in seen:
            raise PipeError(f"IMAGES: {item} and {seen[key]} are both {key.strip('/')}: an index has one image "
                            "per platform.")
        seen[key] = str(item)
        if name != target.name:
            Transfer(client, name, client, target.name, same_registry=True, log=log).manifest(manifest.digest)
        entries.append({"mediaType": manifest.media_type, "digest": manifest.digest, "size": len(manifest.body),
                        "platform": platform})
        log.info(f"{item}: {key.strip('/')} {manifest.digest}")
    index: dict = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    if target.annotations:
        index["annotations"] = target.annotations
    body = canonical_json(index)
    digest = ""
    for tag in target.tags:
        digest = client.put_manifest(target.name, tag, body, OCI_INDEX)
    lines = [f"Pushed {registry.netloc}/{target.name}:{tag} {digest}" for tag in target.tags]
    more, fields = _attach(client, target, digest, supply, log)
    return Done(lines + more, f"Merged {len(entries)} platform images into {registry.netloc}/{target.name}@{digest} "
                              f"as {', '.join(target.tags)}",
                {**_result(target, digest, OCI_INDEX), "platforms": [e["platform"] for e in entries], **fields})


def source_client(reference: str, username: str | None, password: str | None, insecure: bool
                  ) -> tuple[RegistryClient, str, str]:
    """The source registry's client, the image name there, and the reference (tag or digest)."""
    host, name, tag, digest = parse_image_reference(reference)
    host = host or DOCKER_HUB
    if host == "docker.io":
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in name:
        name = f"library/{name}"
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    scheme = "http" if (insecure or is_loopback(hostname)) and not reference.startswith("https://") else "https"
    try:
        registry = Registry.parse(f"{scheme}://{host}", insecure)
    except InvalidReference as exc:
        raise PipeError(f"SOURCE_IMAGE: {exc}") from None
    credentials = Credentials(username, password or "") if username else None
    return RegistryClient(Transport(registry, credentials)), name, digest or tag or "latest"


def copy(target: Target, reference: str, username: str | None, password: str | None,
         supply: SupplySettings | None, log: logging.Logger) -> Done:
    source, name, ref = source_client(reference, username, password, target.common.insecure)
    client = target.client
    transfer = Transfer(source, name, client, target.name, log=log)
    log.info(f"Copying {reference} to {target.common.registry.netloc}/{target.name}")
    manifest = transfer.manifest(ref)
    for tag in target.tags:
        client.put_manifest(target.name, tag, manifest.body, manifest.media_type)
    attachments = transfer.attachments(manifest.digest)
    document = json.loads(manifest.body)
    for child in document.get("manifests") or []:
        attachments += transfer.attachments(str(child["digest"]))
    lines = [f"Pushed {target.common.registry.netloc}/{target.name}:{tag} {manifest.digest}" for tag in target.tags]
    lines.append(f"Copied {transfer.copied_blobs} blobs ({transfer.bytes_copied} bytes), skipped {transfer.skipped_blobs} "
                 f"the registry had, and {len(attachments)} signatures and referrers")
    more, fields = _attach(client, target, manifest.digest, supply, log)
    return Done(lines + more, f"Copied {reference} to {target.common.registry.netloc}/{target.name}@{manifest.digest} "
                              f"as {', '.join(target.tags)}",
                {**_result(target, manifest.digest, manifest.media_type), "source": reference,
                 "blobsCopied": transfer.copied_blobs, "bytesCopied": transfer.bytes_copied, **fields})


def _result(target: Target, digest: str, media_type: str) -> dict:
    host = target.common.registry.netloc
    return {"registry": host, "name": target.name, "tags": target.tags, "digest": digest,
            "digestReference": f"{host}/{target.name}@{digest}", "mediaType": media_type}


def _attach(client: RegistryClient, target: Target, digest: str, supply: SupplySettings | None,
            log: logging.Logger) -> tuple[list[str], dict]:
    if supply is None:
        return [], {}
    attached = attach(client, supply, target.name, target.common.registry.netloc, digest, log)
    lines = [f"Attached the {done.kind} {done.digest}" + (f" (tag {done.tag})" if done.tag else "") for done in attached]
    return lines, result_fields(attached)
