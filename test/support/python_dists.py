"""Wheels and sdists made on the spot, as small as they can be and valid for pip, twine and uv
(a wheel with METADATA, WHEEL and RECORD; an sdist with PKG-INFO and a pyproject.toml)."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name


def metadata_text(name: str, version: str, requires_python: str | None = None, requires: tuple[str, ...] = (),
                  summary: str = "a test package", description: str = "") -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    if description:
        lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + description


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(directory: Path, name: str, version: str, *, requires_python: str | None = None,
               requires: tuple[str, ...] = (), module_source: str | None = None, metadata: str | None = None,
               extra_entries: dict[str, bytes] | None = None, description: str = "") -> Path:
    """A pure-Python wheel with one module named after the project (``import <name>`` works)."""
    module = canonicalize_name(name).replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": (module_source or f"VERSION = {version!r}\n").encode(),
        f"{dist_info}/METADATA": (metadata or metadata_text(name, version, requires_python, requires,
                                                            description=description)).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n",
        **(extra_entries or {}),
    }
    record = "\n".join(_record_line(path, data) for path, data in files.items()) + f"\n{dist_info}/RECORD,,\n"
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in files.items():
            archive.writestr(entry, data)
        archive.writestr(f"{dist_info}/RECORD", record)
    return path


def make_sdist(directory: Path, name: str, version: str, *, metadata: str | None = None,
               extra: dict[str, bytes] | None = None) -> Path:
    module = canonicalize_name(name).replace("-", "_")
    top = f"{module}-{version}"
    files = {
        f"{top}/PKG-INFO": (metadata or metadata_text(name, version)).encode(),
        f"{top}/pyproject.toml": f'[project]\nname = "{name}"\nversion = "{version}"\n'.encode(),
        f"{top}/{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        **(extra or {}),
    }
    path = directory / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for entry, data in files.items():
            info = tarfile.TarInfo(entry)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
