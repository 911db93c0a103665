"""The legacy upload API (what twine sends), spoken natively: one multipart POST per file, the file
streamed from disk (and again from its start on a retry), the form fields from the file's metadata."""

from __future__ import annotations

import io
import uuid
from typing import IO

from pipe.httpclient import HttpClient
from pipe.pypi.dists import Dist


class MultipartBody(io.RawIOBase):
    """A multipart/form-data body read as a file: the fields, then the file's bytes from disk."""

    def __init__(self, dist: Dist, boundary: str) -> None:
        self._head = b"".join(_field(boundary, name, value) for name, value in form_fields(dist))
        self._head += (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
                       f'filename="{dist.path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._file: IO[bytes] = dist.path.open("rb")
        self._length = len(self._head) + dist.size + len(self._tail)
        self._parts = [io.BytesIO(self._head), self._file, io.BytesIO(self._tail)]

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._parts:
            data = self._parts[0].read(len(buffer))
            if data:
                buffer[:len(data)] = data
                return len(data)
            self._parts.pop(0)
        return 0

    def close(self) -> None:
        self._file.close()
        super().close()


def _field(boundary: str, name: str, value: str) -> bytes:
    return (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode() + \
        value.encode("utf-8") + b"\r\n"


def form_fields(dist: Dist) -> list[tuple[str, str]]:
    fields = [(":action", "file_upload"), ("protocol_version", "1"), ("filetype", dist.filetype),
              ("pyversion", dist.pyversion), ("sha256_digest", dist.sha256), ("md5_digest", dist.md5),
              ("blake2_256_digest", dist.blake2_256)]
    fields += list(dist.fields.items())
    fields += [(key, value) for key, values in dist.multi.items() for value in values]
    if dist.description:
        fields.append(("description", dist.description))
    return fields


class PypiRepository:
    def __init__(self, http: HttpClient, url: str) -> None:
        self.http = http
        self.url = url  # the upload URL, ending in /

    def upload(self, dist: Dist) -> None:
        boundary = uuid.uuid4().hex
        self.http.request("POST", self.url, ok=(200, 201), data=lambda: MultipartBody(dist, boundary),
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def files_of(self, project: str, index_url: str) -> set[str] | None:
        """The file names the index lists for a project (PEP 691 JSON), None if it lists none."""
        document = self.http.get_json(f"{index_url}{project}/",
                                      headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        if not isinstance(document, dict):
            return None
        return {str(item.get("filename")) for item in document.get("files", []) if isinstance(item, dict)}
