"""A CycloneDX SBOM (JSON, spec 1.5, made with cyclonedx-python-lib) of what an image contains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

from pipe.oci.client import RegistryClient
from pipe.supply.inventory import Found, collect_files, inventory

CYCLONEDX = "application/vnd.cyclonedx+json"


def purl(item: Found) -> PackageURL:
    qualifiers = {"arch": item.arch} if item.arch else None
    if item.ecosystem == "npm" and item.name.startswith("@"):
        scope, _, name = item.name.partition("/")
        return PackageURL("npm", scope, name, item.version or None)
    return PackageURL(item.ecosystem, item.namespace or None, item.name, item.version or None, qualifiers)


def document(image: str, digest: str, found: list[Found]) -> bytes:
    bom = Bom()
    bom.metadata.component = Component(name=image, version=digest, type=ComponentType.CONTAINER,
                                       bom_ref=f"{image}@{digest}")
    for item in found:
        package_url = purl(item)
        bom.components.add(Component(name=item.name, version=item.version or None, type=ComponentType.LIBRARY,
                                     purl=package_url,
                                     bom_ref=str(package_url) + (f"#{item.path}" if item.path else "")))
    return JsonV1Dot5(bom).output_as_string().encode()


def _layer_streams(client: RegistryClient, name: str, layers: list[dict]) -> Iterator[BinaryIO]:
    """Each layer as a tar stream, read from the registry as it is scanned (tarfile's stream mode
    inflates gzip itself), never held whole."""
    for layer in layers:
        with client.open_blob(name, layer["digest"]) as stream:
            yield stream


def image_inventory(client: RegistryClient, name: str, manifest: dict) -> list[Found]:
    """What the image of ``manifest`` (an image manifest) contains, read from its layers in the registry."""
    return inventory(collect_files(_layer_streams(client, name, manifest.get("layers", []))))
