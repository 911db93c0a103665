"""npm package tarballs: make one from a folder (deterministically, as `npm pack` does) or read one.

A tarball made here has npm's shape: every file under ``package/``, files only (no directory entries),
mode 0644 (0755 for executables and ``bin`` files), mtime 1985-10-26T08:15:00Z, no owner names, gzip
with no timestamp: the same folder always gives the same bytes.

Reading trusts nothing: members must be regular files or directories under one top directory, with
no absolute or ``..`` paths; package.json must be a JSON object with a name and a version.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipe.npm.packlist import PackError, _normalize_bin, packlist, read_manifest

NPM_MTIME = 499162500  # 1985-10-26T08:15:00Z, npm's fixed date (zip tools choke on epoch 0)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@dataclass
class Tarball:
    data: bytes
    manifest: dict[str, Any]  # package/package.json
    files: list[str]  # paths inside the package (without the top directory)
    unpacked_size: int

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def integrity(self) -> str:
        return "sha512-" + base64.b64encode(hashlib.sha512(self.data).digest()).decode()

    @property
    def shasum(self) -> str:
        return hashlib.sha1(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def filename(self) -> str:
        """What `npm pack` names it: ``scope-name-1.0.0.tgz``."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


def pack_folder(folder: Path) -> Tarball:
    """The folder's files by npm's rules (see packlist), as npm's tarball."""
    manifest = read_manifest(folder)
    files = packlist(folder)
    bins = set(_normalize_bin(manifest))
    raw = io.BytesIO()
    unpacked = 0
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            full = folder / path
            content = full.read_bytes()
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(content)
            info.mtime = NPM_MTIME
            executable = bool(full.stat().st_mode & stat.S_IXUSR) or path in bins
            info.mode = 0o755 if executable else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
            unpacked += len(content)
    data = gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
    return Tarball(data, _checked_manifest(manifest, "package.json"), files, unpacked)


def read_tarball(path: Path) -> Tarball:
    """A .tgz made by `npm pack` (or anything of the same shape)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackError(f"cannot read {path}: {exc.strerror}") from None
    files: list[str] = []
    unpacked = 0
    manifest_bytes: bytes | None = None
    top: str | None = None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                parts = PurePosixPath(name).parts
                if not parts or member.name.startswith("/") or ".." in parts:
                    raise PackError(f"{path}: the entry {member.name[:200]!r} escapes the package directory")
                if member.isdir():
                    continue
                if member.type in (tarfile.XHDTYPE, tarfile.XGLTYPE):
                    continue
                if not member.isfile():
                    raise PackError(f"{path}: {member.name[:200]!r} is not a regular file (links are not allowed)")
                if top is None:
                    top = parts[0]
                inner = "/".join(parts[1:])
                if not inner:
                    raise PackError(f"{path}: {member.name[:200]!r} is not inside a package directory")
                files.append(inner)
                unpacked += member.size
                if inner == "package.json" and parts[0] == top:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise PackError(f"{path}: package.json is larger than {MAX_MANIFEST_BYTES} bytes")
                    extracted = tar.extractfile(member)
                    manifest_bytes = extracted.read() if extracted else None
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise PackError(f"{path} is not a gzipped tarball: {exc}") from None
    if manifest_bytes is None:
        raise PackError(f"{path} has no package/package.json")
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackError(f"{path}: package.json is not valid JSON: {exc}") from None
    return Tarball(data, _checked_manifest(manifest, f"{path}: package.json"), files, unpacked)


def _checked_manifest(manifest: Any, where: str) -> dict[str, Any]:
    if not isinstance(manifest, dict):
        raise PackError(f"{where} is not a JSON object")
    for key in ("name", "version"):
        if not isinstance(manifest.get(key), str) or not manifest[key].strip():
            raise PackError(f"{where} has no {key}")
    return manifest
