"""The legacy upload API spoken directly (as twine does, field for field), for tests that need to
send what no well-behaved client would."""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests


def upload_fields(name: str, version: str, data: bytes, filetype: str = "bdist_wheel") -> dict[str, str]:
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name,
        "version": version,
        "filetype": filetype,
        "pyversion": "py3" if filetype == "bdist_wheel" else "source",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "md5_digest": hashlib.md5(data).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }


def upload(url: str, path: Path, auth: tuple[str, str] | None, name: str | None = None, version: str | None = None,
           fields: dict[str, str] | None = None, filename: str | None = None) -> requests.Response:
    """POST one file; name/version default to what its file name says; ``fields`` override the form."""
    data = path.read_bytes()
    stem = path.name.split("-")
    form = upload_fields(name or stem[0], version or stem[1].removesuffix(".tar.gz").removesuffix(".zip"), data,
                         "bdist_wheel" if path.suffix == ".whl" else "sdist")
    form.update(fields or {})
    form = {key: value for key, value in form.items() if value is not None}
    return requests.post(url, data=form, files={"content": (filename or path.name, data, "application/octet-stream")},
                         auth=auth, timeout=60)
