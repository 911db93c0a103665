"""The distributions to upload: files matched by PYPI_DIST, each with the core metadata it carries
(a wheel's ``METADATA``, an sdist's ``PKG-INFO``) and its digests, as the upload API wants them.

The metadata comes from the file itself, never from the project's sources: what is uploaded is what
the index records."""

from __future__ import annotations

import glob
import hashlib
import tarfile
import zipfile
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

MAX_METADATA = 4 * 1024 * 1024
# The form fields twine sends from the core metadata (multi-valued ones repeat).
SINGLE_FIELDS = {
    "Metadata-Version": "metadata_version", "Name": "name", "Version": "version", "Summary": "summary",
    "Home-page": "home_page", "Author": "author", "Author-email": "author_email", "Maintainer": "maintainer",
    "Maintainer-email": "maintainer_email", "License": "license", "License-Expression": "license_expression",
    "Keywords": "keywords", "Requires-Python": "requires_python", "Description-Content-Type":
    "description_content_type", "Download-URL": "download_url",
}
MULTI_FIELDS = {
    "Classifier": "classifiers", "Requires-Dist": "requires_dist", "Provides-Extra": "provides_extra",
    "Project-URL": "project_urls", "Platform": "platform", "Dynamic": "dynamic",
}


class DistError(Exception):
    """A file that cannot be uploaded; the message says which and why."""


@dataclass
class Dist:
    path: Path
    filetype: str  # bdist_wheel or sdist
    pyversion: str  # the wheel's python tag, "source" for an sdist
    fields: dict[str, str] = field(default_factory=dict)
    multi: dict[str, list[str]] = field(default_factory=dict)
    description: str = ""
    size: int = 0
    sha256: str = ""
    md5: str = ""
    blake2_256: str = ""

    @property
    def name(self) -> str:
        return self.fields["name"]

    @property
    def version(self) -> str:
        return self.fields["version"]

    @property
    def project(self) -> str:
        return canonicalize_name(self.name)


def find(patterns: list[str], base: Path) -> list[Path]:
    """Files matching the patterns (relative to ``base``), in a stable order, each once."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        for match in sorted(glob.glob(full, recursive=True)):
            path = Path(match)
            if path.is_file() and (path.name.endswith((".whl", ".tar.gz", ".zip"))):
                found.setdefault(path, None)
    # sdists first, as twine uploads them: an index that shows the source before the wheels
    return sorted(found, key=lambda p: (not p.name.endswith((".tar.gz", ".zip")), p.name))


def project_name(path: Path) -> str | None:
    """The project a file is of, as its core metadata names it (what a result names), without hashing
    the file; None when it cannot be read."""
    try:
        return _metadata_only(path).name
    except (DistError, KeyError):
        return None


def read(path: Path) -> Dist:
    dist = _metadata_only(path)
    _digest(dist)
    return dist


def _metadata_only(path: Path) -> Dist:
    name = path.name
    try:
        if name.endswith(".whl"):
            _, _, _, tags = parse_wheel_filename(name)
            dist = Dist(path, "bdist_wheel", ".".join(sorted({tag.interpreter for tag in tags})))
            raw = _wheel_metadata(path)
        else:
            parse_sdist_filename(name)
            dist = Dist(path, "sdist", "source")
            raw = _sdist_metadata(path)
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise DistError(f"{name}: not a wheel or sdist file name ({exc})") from None
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise DistError(f"{name}: cannot be read ({exc})") from None
    _parse(dist, raw)
    return dist


def _wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        entries = [info for info in archive.infolist()
                   if (parts := info.filename.split("/")) and len(parts) == 2 and parts[0].endswith(".dist-info")
                   and parts[1] == "METADATA"]
        if len(entries) != 1:
            raise DistError(f"{path.name}: a wheel has exactly one .dist-info/METADATA")
        with archive.open(entries[0]) as handle:
            return handle.read(MAX_METADATA)


def _sdist_metadata(path: Path) -> bytes:
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if len(info.filename.split("/")) == 2 and info.filename.endswith("/PKG-INFO"):
                    with archive.open(info) as handle:
                        return handle.read(MAX_METADATA)
    else:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if len(member.name.split("/")) == 2 and member.name.endswith("/PKG-INFO") and member.isfile():
                    handle = archive.extractfile(member)
                    if handle is not None:
                        return handle.read(MAX_METADATA)
    raise DistError(f"{path.name}: the sdist has no PKG-INFO in its top directory (was it made by python -m build?)")


def _parse(dist: Dist, raw: bytes) -> None:
    message = BytesParser(policy=compat32).parsebytes(raw)
    for header, key in SINGLE_FIELDS.items():
        value = message.get(header)
        if value is not None:
            dist.fields[key] = str(value)
    for header, key in MULTI_FIELDS.items():
        values = message.get_all(header) or []
        if values:
            dist.multi[key] = [str(value) for value in values]
    payload = message.get_payload()
    dist.description = str(message.get("Description") or (payload if isinstance(payload, str) else ""))
    if not dist.fields.get("name") or not dist.fields.get("version"):
        raise DistError(f"{dist.path.name}: its metadata has no Name or Version")


def _digest(dist: Dist) -> None:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    blake2 = hashlib.blake2b(digest_size=32)
    with dist.path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            for hasher in (sha256, md5, blake2):
                hasher.update(chunk)
            dist.size += len(chunk)
    dist.sha256, dist.md5, dist.blake2_256 = sha256.hexdigest(), md5.hexdigest(), blake2.hexdigest()
