"""Reading ``npm publish``'s document: one new version, its dist-tags and its tarball, all checked.

npm PUTs a packument-shaped JSON document whose ``_attachments`` hold the tarball in base64. Nothing
in it is trusted: the tarball must match the integrity and shasum the version declares, and its
package.json must name the same package and version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from registry.npm import names, tarball
from registry.npm.errors import bad_request, too_large

MAX_TARBALL_BYTES = 100 * 1024 * 1024
# The JSON document around the tarball: base64 (4/3) plus the manifest and readme.
MAX_PUBLISH_BYTES = MAX_TARBALL_BYTES * 4 // 3 + 16 * 1024 * 1024
MAX_README_CHARS = 1024 * 1024
INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


@dataclass(frozen=True, slots=True)
class NewVersion:
    version: str
    manifest: dict  # the version document, without readme and with our dist (tarball URL set on reading)
    readme: str | None
    tags: dict[str, str]
    tarball: bytes
    integrity: str
    shasum: str


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _attachment(document: dict, name: str, version: str) -> bytes:
    attachments = document.get("_attachments")
    if not isinstance(attachments, dict) or len(attachments) != 1:
        raise bad_request("a publish carries exactly one tarball in _attachments")
    (filename, attachment), = attachments.items()
    expected = names.tarball_filename(name, version)
    if filename not in (expected, f"{name}-{version}.tgz"):
        raise bad_request(f"the attachment is named {str(filename)[:100]!r}; expected {expected!r}")
    if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
        raise bad_request("the attachment has no base64 data")
    encoded = attachment["data"]
    if len(encoded) > MAX_TARBALL_BYTES * 4 // 3 + 4:
        raise too_large(f"the tarball is larger than {MAX_TARBALL_BYTES // (1024 * 1024)} MiB")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("the attachment's data is not valid base64") from None
    length = attachment.get("length")
    if length is not None and length != len(data):
        raise bad_request(f"the attachment's length says {str(length)[:20]}, the data has {len(data)} bytes")
    return data


def _check_dist(dist: object, data: bytes) -> tuple[str, str]:
    integrity = integrity_of(data)
    shasum = hashlib.sha1(data, usedforsecurity=False).hexdigest()  # npm's legacy checksum
    if not isinstance(dist, dict):
        raise bad_request("the version has no dist object")
    declared_integrity = dist.get("integrity")
    if declared_integrity is not None:
        # Subresource Integrity: several space-separated hashes may be listed; each sha512 one must match.
        hashes = str(declared_integrity).split()
        sha512 = [h.split("?", 1)[0] for h in hashes if h.startswith("sha512-")]
        if not sha512 or any(h != integrity for h in sha512):
            raise bad_request("the tarball does not match the integrity the version declares")
    declared_shasum = dist.get("shasum")
    if declared_shasum is not None and str(declared_shasum).lower() != shasum:
        raise bad_request("the tarball does not match the shasum the version declares")
    if declared_integrity is None and declared_shasum is None:
        raise bad_request("the version declares neither dist.integrity nor dist.shasum")
    return integrity, shasum


def parse(document: object, name: str) -> NewVersion:
    """The new version in a publish document for package ``name``, or an NpmError saying what is wrong."""
    if not isinstance(document, dict):
        raise bad_request("the publish document is not a JSON object")
    if document.get("name", name) != name or document.get("_id", name) != name:
        raise bad_request(f"the document names another package than {name}")
    versions = document.get("versions")
    if not isinstance(versions, dict) or len(versions) != 1:
        raise bad_request("a publish carries exactly one version")
    (version, manifest), = versions.items()
    if not names.is_valid_version(version):
        raise bad_request(f"invalid version {str(version)[:100]!r}: npm versions are semver (1.2.3)")
    if not isinstance(manifest, dict):
        raise bad_request("the version document is not a JSON object")
    if manifest.get("name") != name or manifest.get("version") != version:
        raise bad_request(f"the version document must say name {name!r} and version {version!r}")
    tags = document.get("dist-tags", {})
    if not isinstance(tags, dict) or not all(names.is_valid_tag(t) and v == version for t, v in tags.items()):
        raise bad_request("dist-tags must be valid tag names pointing at the version being published")
    data = _attachment(document, name, version)
    integrity, shasum = _check_dist(manifest.get("dist"), data)
    try:
        facts = tarball.inspect(data)
    except tarball.BadTarball as exc:
        raise bad_request(f"tarball refused: {exc}") from None
    inner = facts.package_json
    if inner.get("name") != name or inner.get("version") != version:
        raise bad_request(
            f"the tarball's package.json says {str(inner.get('name'))[:100]}@{str(inner.get('version'))[:50]}, "
            f"but {name}@{version} is being published"
        )
    readme = manifest.get("readme", document.get("readme"))
    readme = readme[:MAX_README_CHARS] if isinstance(readme, str) else None
    clean = {key: value for key, value in manifest.items() if key not in ("readme", "readmeFilename", "dist")}
    scripts = manifest.get("scripts")
    if isinstance(scripts, dict) and any(s in scripts for s in INSTALL_SCRIPTS):
        clean["hasInstallScript"] = True
    clean["_id"] = f"{name}@{version}"
    clean["dist"] = {"integrity": integrity, "shasum": shasum, "fileCount": facts.file_count,
                     "unpackedSize": facts.unpacked_size}
    return NewVersion(version, clean, readme, dict(tags), data, integrity, shasum)
