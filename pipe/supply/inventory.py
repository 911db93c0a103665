"""What an image contains, read from its layers without running it: the package databases and
manifests that package managers leave behind.

- Debian/Ubuntu: ``var/lib/dpkg/status`` (installed packages) and ``etc/os-release`` (the distro)
- Alpine: ``lib/apk/db/installed``
- Python: ``*.dist-info/METADATA`` and ``*.egg-info/PKG-INFO`` under site-packages or dist-packages
- Node: ``node_modules/<name>/package.json`` (scoped names too)
- Java: ``*.jar`` files, by their ``META-INF/maven/<group>/<artifact>/pom.properties`` or else
  their ``META-INF/MANIFEST.MF``

Layers are read in order as tar streams and later layers win (a file replaced or deleted by a
whiteout in a later layer counts as the later layer has it). Only the files above are kept, each
within a size bound.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import compat32
from pathlib import PurePosixPath
from typing import IO

MAX_FILE = 64 * 1024 * 1024  # a package database or jar larger than this is skipped
_PYTHON_META = re.compile(r"(?:^|/)(?:site|dist)-packages/[^/]+\.(?:dist-info/METADATA|egg-info/PKG-INFO)\Z")
_NODE_PACKAGE = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json\Z")
WANTED_EXACT = {"var/lib/dpkg/status", "lib/apk/db/installed", "etc/os-release", "usr/lib/os-release"}


@dataclass(frozen=True, order=True)
class Found:
    ecosystem: str  # deb, apk, pypi, npm, maven
    name: str
    version: str
    namespace: str = ""  # the distro (deb, apk) or the Maven group
    arch: str = ""
    path: str = ""


def _wanted(path: str) -> bool:
    return (path in WANTED_EXACT or path.endswith(".jar") or _PYTHON_META.search(path) is not None
            or _NODE_PACKAGE.search(path) is not None)


def collect_files(layers: Iterable[IO[bytes]]) -> dict[str, bytes]:
    """The wanted files of the image's final filesystem, from its layers' tar streams (in order)."""
    files: dict[str, bytes] = {}
    for stream in layers:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            for member in archive:
                path = str(PurePosixPath("/" + member.name).relative_to("/"))
                name = PurePosixPath(path).name
                if name.startswith(".wh."):
                    parent = str(PurePosixPath(path).parent)
                    if name == ".wh..wh..opq":  # an opaque directory: nothing below it from earlier layers
                        prefix = "" if parent == "." else parent + "/"
                        for known in [k for k in files if k.startswith(prefix)]:
                            del files[known]
                    else:
                        gone = str(PurePosixPath(parent) / name[4:]) if parent != "." else name[4:]
                        for known in [k for k in files if k == gone or k.startswith(gone + "/")]:
                            del files[known]
                    continue
                if not member.isfile():
                    files.pop(path, None)
                    continue
                if _wanted(path) and member.size <= MAX_FILE:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        files[path] = handle.read()
                else:
                    files.pop(path, None)
    return files


def _distro(files: dict[str, bytes]) -> str:
    text = (files.get("etc/os-release") or files.get("usr/lib/os-release") or b"").decode("utf-8", "replace")
    match = re.search(r"^ID=\"?([a-z0-9._-]+)", text, re.MULTILINE)
    return match.group(1) if match else ""


def _dpkg(status: bytes, distro: str) -> list[Found]:
    found = []
    for paragraph in status.decode("utf-8", "replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            found.append(Found("deb", fields["Package"], fields.get("Version", ""), distro or "debian",
                               fields.get("Architecture", "")))
    return found


def _apk(installed: bytes, distro: str) -> list[Found]:
    found = []
    for paragraph in installed.decode("utf-8", "replace").split("\n\n"):
        fields = dict(line.split(":", 1) for line in paragraph.splitlines() if len(line) > 2 and line[1] == ":")
        if fields.get("P"):
            found.append(Found("apk", fields["P"], fields.get("V", ""), distro or "alpine", fields.get("A", "")))
    return found


def _python(path: str, data: bytes) -> Found | None:
    message = BytesParser(policy=compat32).parsebytes(data, headersonly=True)
    name, version = message.get("Name"), message.get("Version")
    return Found("pypi", str(name), str(version or ""), path=path) if name else None


def _node(path: str, data: bytes) -> Found | None:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(document, dict) and isinstance(document.get("name"), str) and isinstance(document.get("version"), str):
        return Found("npm", document["name"], document["version"], path=path)
    return None


def _jar(path: str, data: bytes) -> Found | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            for entry in names:
                if entry.startswith("META-INF/maven/") and entry.endswith("/pom.properties"):
                    text = archive.read(entry).decode("utf-8", "replace")
                    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and
                                 not line.startswith("#"))
                    if props.get("artifactId"):
                        return Found("maven", props["artifactId"].strip(), props.get("version", "").strip(),
                                     props.get("groupId", "").strip(), path=path)
            if "META-INF/MANIFEST.MF" in names:
                manifest = BytesParser(policy=compat32).parsebytes(archive.read("META-INF/MANIFEST.MF"),
                                                                   headersonly=True)
                title = manifest.get("Implementation-Title") or manifest.get("Bundle-SymbolicName")
                if title:
                    return Found("maven", str(title).split(";")[0].strip(),
                                 str(manifest.get("Implementation-Version") or manifest.get("Bundle-Version") or ""),
                                 path=path)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return None
    return None


def inventory(files: dict[str, bytes]) -> list[Found]:
    distro = _distro(files)
    found: list[Found] = []
    if "var/lib/dpkg/status" in files:
        found += _dpkg(files["var/lib/dpkg/status"], distro)
    if "lib/apk/db/installed" in files:
        found += _apk(files["lib/apk/db/installed"], distro)
    for path, data in files.items():
        item = None
        if path.endswith(".jar"):
            item = _jar(path, data)
        elif _PYTHON_META.search(path):
            item = _python(path, data)
        elif _NODE_PACKAGE.search(path):
            item = _node(path, data)
        if item is not None:
            found.append(item)
    return sorted(set(found))
