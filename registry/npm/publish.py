"""Reading ``npm publish``'s document: one new version, its dist-tags and its tarball, all checked.

npm PUTs a packument-shaped JSON document whose ``_attachments`` hold the tarball in base64 (read by
:mod:`registry.npm.body`, which decodes the tarball straight into the content store). Nothing in
it is trusted: the tarball must match the integrity and shasum the version declares, and its
package.json must name the same package and version.

What installs and runs (dependencies, scripts, bin, engines, os/cpu...) comes from the tarball's
own package.json, never from the publish document alone: a document that declares other
dependencies or no install script than the tarball it carries ("manifest confusion") cannot make
the registry advertise them. ``hasInstallScript`` is derived the way npm does.
"""

from __future__ import annotations

import base64
import posixpath
from dataclasses import dataclass

from registry.npm import names, tarball
from registry.npm.errors import bad_request

MAX_TARBALL_BYTES = 100 * 1024 * 1024
MAX_TARBALL_TEXT = MAX_TARBALL_BYTES * 4 // 3 + 4  # its base64
# The JSON document around the tarball: the version document, the readme, a packument sent back by
# `npm deprecate` or `npm unpublish` of one version.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_PUBLISH_BYTES = MAX_TARBALL_TEXT + MAX_DOCUMENT_BYTES
MAX_README_CHARS = 1024 * 1024
INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")
# Version fields that decide what gets installed or run: taken only from the tarball's package.json.
FROM_TARBALL_ONLY = (
    "dependencies", "optionalDependencies", "peerDependencies", "peerDependenciesMeta", "devDependencies",
    "bundleDependencies", "bundledDependencies", "acceptDependencies", "scripts", "bin", "directories",
    "engines", "os", "cpu", "libc", "main", "exports", "imports", "type", "browser", "module", "gypfile",
    "workspaces", "overrides", "funding", "license", "files",
)
# Set by the registry, whatever a document says.
REGISTRY_FIELDS = ("_id", "dist", "readme", "readmeFilename", "hasInstallScript", "_hasShrinkwrap", "_npmUser",
                   "deprecated")


@dataclass(frozen=True, slots=True)
class Head:
    """What a publish document says about the version, checked before its tarball is read."""

    version: str
    manifest: dict
    tags: dict[str, str]


def integrity_of(sha512_hex: str) -> str:
    return "sha512-" + base64.b64encode(bytes.fromhex(sha512_hex)).decode()


def check_head(document: object, name: str, complete: bool = True) -> Head | None:
    """The version a publish document brings, or an NpmError saying what is wrong.

    With ``complete=False`` (the document as far as it arrived before its tarball) only what is
    there is checked, and None is the answer when the version has not arrived yet.
    """
    if not isinstance(document, dict):
        raise bad_request("the publish document is not a JSON object")
    if document.get("name", name) != name or document.get("_id", name) != name:
        raise bad_request(f"the document names another package than {name}")
    versions = document.get("versions")
    if versions is None and not complete:
        return None
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
    return Head(version, manifest, dict(tags))


def check_attachment_name(filename: object, name: str, version: str) -> None:
    expected = names.tarball_filename(name, version)
    if filename not in (expected, f"{name}-{version}.tgz"):
        raise bad_request(f"the attachment is named {str(filename)[:100]!r}; expected {expected!r}")


def check_attachment(document: dict, name: str, version: str, marker: str, size: int) -> None:
    """The one attachment is the tarball that was read (the marker stands for its data)."""
    attachments = document.get("_attachments")
    if not isinstance(attachments, dict) or len(attachments) != 1:
        raise bad_request("a publish carries exactly one tarball in _attachments")
    (filename, attachment), = attachments.items()
    check_attachment_name(filename, name, version)
    if not isinstance(attachment, dict) or attachment.get("data") != marker:
        raise bad_request("the attachment has no base64 data")
    length = attachment.get("length")
    if length is not None and length != size:
        raise bad_request(f"the attachment's length says {str(length)[:20]}, the data has {size} bytes")


def check_dist(dist: object, integrity: str, shasum: str) -> None:
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


def check_tarball_names(facts: tarball.TarballFacts, name: str, version: str) -> None:
    inner = facts.package_json
    if inner.get("name") != name or inner.get("version") != version:
        raise bad_request(
            f"the tarball's package.json says {str(inner.get('name'))[:100]}@{str(inner.get('version'))[:50]}, "
            f"but {name}@{version} is being published"
        )


def readme_of(document: dict, manifest: dict) -> str | None:
    readme = manifest.get("readme", document.get("readme"))
    return readme[:MAX_README_CHARS] if isinstance(readme, str) else None


def _bin_entries(package_json: dict, name: str) -> dict | None:
    """``bin`` as npm normalises it: a string names one command after the package; paths lose ``./``."""
    declared = package_json.get("bin")
    if isinstance(declared, str):
        declared = {names.tarball_basename(name): declared}
    if not isinstance(declared, dict):
        return None
    entries = {}
    for command, target in declared.items():
        if not isinstance(command, str) or not isinstance(target, str):
            continue
        command = posixpath.basename(posixpath.join("/", command))
        target = posixpath.normpath(posixpath.join("/", target))[1:]
        if command and target:
            entries[command] = target
    return entries


def _scripts(package_json: dict, facts: tarball.TarballFacts) -> dict:
    scripts = package_json.get("scripts")
    scripts = {k: v for k, v in scripts.items() if isinstance(v, str)} if isinstance(scripts, dict) else {}
    # npm runs `node-gyp rebuild` for a package with a binding.gyp and no install script of its own.
    if facts.has_binding_gyp and package_json.get("gypfile") is not False and not (
            "install" in scripts or "preinstall" in scripts):
        scripts["install"] = "node-gyp rebuild"
    return scripts


def version_document(name: str, version: str, manifest: dict, facts: tarball.TarballFacts, integrity: str,
                     shasum: str) -> dict:
    """The version as the registry will serve it: the tarball's package.json for everything that
    installs or runs, the publish document's manifest only for the rest (what npm adds, such as
    ``gitHead`` or ``_nodeVersion``, and descriptive fields the package.json does not have)."""
    package_json = facts.package_json
    document = {key: value for key, value in manifest.items()
                if key not in FROM_TARBALL_ONLY and key not in REGISTRY_FIELDS}
    for key, value in package_json.items():
        if key not in REGISTRY_FIELDS and key not in ("bin", "scripts"):
            document[key] = value
    bin_entries = _bin_entries(package_json, name)
    if bin_entries:
        document["bin"] = bin_entries
    scripts = _scripts(package_json, facts)
    if scripts:
        document["scripts"] = scripts
    if facts.has_binding_gyp and package_json.get("gypfile") is not False:
        document["gypfile"] = True
    if any(script in scripts for script in INSTALL_SCRIPTS):
        document["hasInstallScript"] = True
    if facts.has_shrinkwrap:
        document["_hasShrinkwrap"] = True
    document["name"], document["version"] = name, version
    document["_id"] = f"{name}@{version}"
    document["dist"] = {"integrity": integrity, "shasum": shasum, "fileCount": facts.file_count,
                        "unpackedSize": facts.unpacked_size}
    return document
