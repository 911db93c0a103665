"""What an uploaded file is: its name parsed by the wheel and sdist rules, and its core metadata
read from the file itself (a wheel's ``METADATA``, an sdist's ``PKG-INFO``), never from the form.

Everything here is blocking work over untrusted archives: callers run it in a thread, but for a
small wheel in hand (``inspect_small_wheel``, tighter bounds: well under a millisecond). Every read is
bounded: entry counts, the metadata file's size, and for a compressed tar the bytes inflated (a gzip
bomb stops at the cap instead of filling memory or time).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from registry.pypi.names import normalize, parse_version

MAX_ENTRIES = 100_000
MAX_METADATA_BYTES = 4 * 1024 * 1024
MAX_FILENAME = 255
# An sdist's tar may inflate to this many times its compressed size (plus a floor): real sdists are
# text and compress 3-20x; a gzip bomb compresses 1000x.
MAX_INFLATE_RATIO = 100
INFLATE_FLOOR = 16 * 1024 * 1024

# A wheel within these bounds is read on the event loop (~0.15 ms for a few entries, ~0.6-0.9 ms at the
# bounds): a thread hop and its wake-up would cost more. The zip's central directory is parsed entry by
# entry in Python (~10 us each), the metadata file by the email parser (line by line, below).
INLINE_FILE_BYTES = 256 * 1024
INLINE_ENTRIES = 32
INLINE_METADATA_BYTES = 32 * 1024
# The email parser takes ~4 us per header line (32 KiB of short ones: 40 ms), ~0.5 us per line of the body.
INLINE_METADATA_HEADER_LINES = 64
INLINE_METADATA_LINES = 512
# Its entries' names and comments, and their extra fields: zipfile parses extra fields in Python 4 bytes
# at a time, slicing the rest each time (~1 us per 4 bytes, a 60 KB one takes 20 ms), and each name's
# parts are checked in Python (~0.1 ms per KiB of a name of many parts).
INLINE_NAME_BYTES = 4 * 1024
INLINE_EXTRA_BYTES = 1024
_CENTRAL_DIRECTORY_ENTRY = b"PK\x01\x02"  # the signature that starts each entry of a zip's central directory
_CENTRAL_DIRECTORY_HEADER = 46  # bytes of an entry before its name, extra field and comment

WHEEL = "bdist_wheel"
SDIST = "sdist"


class InvalidDistribution(ValueError):
    """The file is not an acceptable wheel or sdist; the message says why, for the uploader."""


@dataclass(frozen=True)
class FileName:
    filename: str
    project: str  # normal form
    version: Version
    packagetype: str
    python_version: str  # a wheel's python tag ("py3", "cp311"), "source" for an sdist


@dataclass
class Distribution:
    name: FileName
    metadata_bytes: bytes
    metadata: dict  # JSON-able core metadata fields, warehouse's names
    metadata_digest: str  # of metadata_bytes, as PEP 658 pages declare it: taken where the file is read

    @property
    def version(self) -> str:
        return str(self.name.version)

    @property
    def requires_python(self) -> str | None:
        return self.metadata.get("requires_python") or None


@functools.lru_cache(maxsize=1024)  # an upload's name is parsed before its bytes arrive, and again as it is read
def parse_filename(filename: str) -> FileName:
    """The project, version and kind a file's name declares (PyPI's rules: wheels and sdists only)."""
    if (not filename or len(filename) > MAX_FILENAME or "/" in filename or "\\" in filename
            or filename.startswith(".") or any(ord(c) < 0x20 for c in filename)):
        raise InvalidDistribution(f"invalid file name {filename[:100]!r}")
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            python = ".".join(sorted({tag.interpreter for tag in tags}))
            return FileName(filename, str(name), version, WHEEL, python)
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return FileName(filename, str(name), version, SDIST, "source")
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise InvalidDistribution(f"invalid file name {filename!r}: {exc}") from None
    raise InvalidDistribution(f"invalid file name {filename!r}: only wheels (.whl) and sdists (.tar.gz, .zip) "
                              "can be uploaded")


Source = Path | bytes  # a file, or the bytes of a small one


class MetadataTooLarge(InvalidDistribution):
    """The core metadata file is larger than the reader's bound."""


def inspect(source: Source, filename: str, metadata_limit: int = MAX_METADATA_BYTES, inline: bool = False
            ) -> Distribution:
    """Parse the file's name, read its core metadata, and check both agree (blocking: run in a thread;
    ``inline``: MetadataTooLarge if the metadata has more lines than the event loop may parse)."""
    name = parse_filename(filename)
    if name.packagetype == WHEEL:
        raw = _wheel_metadata(source, metadata_limit)
    elif filename.endswith(".zip"):
        raw = _zip_sdist_metadata(source)
    else:
        raw = _tar_sdist_metadata(source)
    if inline and not _few_lines(raw):
        raise MetadataTooLarge("the metadata file has too many lines to be parsed on the event loop")
    metadata = _parse_metadata(raw)
    declared, version = metadata.get("name", ""), parse_version(metadata.get("version", ""))
    if normalize(declared) != name.project:
        raise InvalidDistribution(f"the file's metadata names project {declared!r}, but its file name says "
                                  f"{name.project!r}")
    if version is None or version != name.version:
        raise InvalidDistribution(f"the file's metadata says version {metadata.get('version')!r}, but its file name "
                                  f"says {name.version}")
    return Distribution(name, raw, metadata, f"sha256:{hashlib.sha256(raw).hexdigest()}")


def inspect_small_wheel(data: bytes, filename: str) -> Distribution | None:
    """``inspect`` for a wheel in hand within the inline bounds, cheap enough for the event loop; None if
    the file is not one (then ``inspect`` it in a thread)."""
    if not filename.endswith(".whl") or len(data) > INLINE_FILE_BYTES or not _small_directory(data):
        return None
    try:
        return inspect(data, filename, INLINE_METADATA_BYTES, inline=True)
    except MetadataTooLarge:
        return None


def _small_directory(data: bytes) -> bool:
    """Whether a zip's central directory is within the inline bounds, checked at C speed before the zip
    module parses any of it: at most ``INLINE_ENTRIES`` entries, ``INLINE_NAME_BYTES`` of names and
    comments, ``INLINE_EXTRA_BYTES`` of extra fields, each entry stored or deflated (zipfile inflates
    bzip2 and lzma without bound before it truncates to the entry's declared size: a few hundred bytes
    become hundreds of megabytes, seconds of work)."""
    # Every entry zipfile parses starts with the signature somewhere in the file: looking at each place it
    # occurs bounds the entries from above (compressed bytes may hold it too).
    if data.count(_CENTRAL_DIRECTORY_ENTRY) > INLINE_ENTRIES:
        return False
    names = extras = 0
    at = data.find(_CENTRAL_DIRECTORY_ENTRY)
    while at != -1:
        if at + _CENTRAL_DIRECTORY_HEADER <= len(data):  # else not an entry zipfile can parse
            (method,) = struct.unpack_from("<H", data, at + 10)
            name, extra, comment = struct.unpack_from("<HHH", data, at + 28)
            if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                return False
            names, extras = names + name + comment, extras + extra
        at = data.find(_CENTRAL_DIRECTORY_ENTRY, at + len(_CENTRAL_DIRECTORY_ENTRY))
    return names <= INLINE_NAME_BYTES and extras <= INLINE_EXTRA_BYTES


def _few_lines(raw: bytes) -> bool:
    """Whether a metadata file is within the inline bounds of lines, counted at C speed (the email parser
    ends lines at \\r too; its headers end at the first empty line, or later: all of it counts then)."""
    end = raw.find(b"\n\n")
    headers = raw if end == -1 else raw[:end]
    return (headers.count(b"\n") + headers.count(b"\r") <= INLINE_METADATA_HEADER_LINES
            and raw.count(b"\n") + raw.count(b"\r") <= INLINE_METADATA_LINES)


def _safe_member(member: str) -> None:
    path = PurePosixPath(member.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (member[1:2] == ":"):
        raise InvalidDistribution(f"the archive has an entry outside its directory: {member[:200]!r}")


# What reading a zip entry raises for a corrupt or odd one: bad deflate data (zlib.error), an encrypted
# entry (RuntimeError), a compression method zipfile lacks (NotImplementedError).
_UNREADABLE_ENTRY = (zipfile.BadZipFile, OSError, EOFError, zlib.error, RuntimeError, NotImplementedError)


def _read_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = MAX_METADATA_BYTES) -> bytes:
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # zipfile inflates bzip2 and lzma without bound before it cuts them to the entry's declared size: a
        # 700-byte entry became 500 MB in 2 s (a few KiB would exhaust memory).
        raise InvalidDistribution(f"{info.filename} is compressed with a method other than deflate: only stored "
                                  "or deflated metadata files are read")
    if info.file_size > limit:
        raise MetadataTooLarge(f"{info.filename} is larger than {limit} bytes")
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise MetadataTooLarge(f"{info.filename} is larger than {limit} bytes")
    return data


def _zip_entries(source: Source) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidDistribution(f"not a valid zip archive: {exc}") from None
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        archive.close()
        raise InvalidDistribution(f"the archive has more than {MAX_ENTRIES} entries")
    for info in entries:
        _safe_member(info.filename)
    return archive, entries


def _wheel_metadata(source: Source, metadata_limit: int) -> bytes:
    archive, entries = _zip_entries(source)
    with archive:
        found = [info for info in entries
                 if (parts := info.filename.split("/")) and len(parts) == 2 and parts[0].endswith(".dist-info")
                 and parts[1] == "METADATA"]
        if len(found) != 1:
            raise InvalidDistribution("a wheel must have exactly one .dist-info/METADATA file"
                                      if found else "the wheel has no .dist-info/METADATA file")
        try:
            return _read_zip_entry(archive, found[0], metadata_limit)
        except _UNREADABLE_ENTRY as exc:
            raise InvalidDistribution(f"the wheel's METADATA cannot be read: {exc}") from None


def _zip_sdist_metadata(source: Source) -> bytes:
    archive, entries = _zip_entries(source)
    with archive:
        found = [info for info in entries if len(info.filename.split("/")) == 2 and info.filename.endswith("/PKG-INFO")]
        if not found:
            raise InvalidDistribution("the sdist has no PKG-INFO file in its top directory")
        try:
            return _read_zip_entry(archive, found[0])
        except _UNREADABLE_ENTRY as exc:
            raise InvalidDistribution(f"the sdist's PKG-INFO cannot be read: {exc}") from None


class _Inflated(io.RawIOBase):
    """A gzip stream that refuses to inflate past a cap."""

    def __init__(self, source: gzip.GzipFile, cap: int) -> None:
        self._source = source
        self._cap = cap
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        self._seen += len(data)
        if self._seen > self._cap:
            raise InvalidDistribution(f"the sdist inflates to more than {self._cap} bytes (a compression bomb?)")
        buffer[:len(data)] = data
        return len(data)


def _tar_sdist_metadata(source: Source) -> bytes:
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    cap = size * MAX_INFLATE_RATIO + INFLATE_FLOOR
    pkg_info: bytes | None = None
    count = 0
    try:
        with gzip.open(io.BytesIO(source) if isinstance(source, bytes) else source) as compressed, tarfile.open(
                fileobj=io.BufferedReader(_Inflated(compressed, cap)), mode="r|") as archive:
            for member in archive:
                count += 1
                if count > MAX_ENTRIES:
                    raise InvalidDistribution(f"the archive has more than {MAX_ENTRIES} entries")
                _safe_member(member.name)
                if member.islnk() or member.issym():
                    _safe_member(str(PurePosixPath(member.name).parent / member.linkname))
                parts = member.name.split("/")
                if pkg_info is None and len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                    if member.size > MAX_METADATA_BYTES:
                        raise InvalidDistribution(f"PKG-INFO is larger than {MAX_METADATA_BYTES} bytes")
                    handle = archive.extractfile(member)
                    pkg_info = handle.read() if handle is not None else None
    except InvalidDistribution:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InvalidDistribution(f"not a valid .tar.gz archive: {exc}") from None
    if pkg_info is None:
        raise InvalidDistribution("the sdist has no PKG-INFO file in its top directory")
    return pkg_info


# Core metadata fields as warehouse's JSON API names them (``info``), from packaging's raw names.
_LIST_FIELDS = ("classifiers", "requires_dist", "platforms", "provides_extra", "dynamic")
_TEXT_FIELDS = ("metadata_version", "name", "version", "summary", "description", "description_content_type",
                "keywords", "home_page", "download_url", "author", "author_email", "maintainer",
                "maintainer_email", "license", "license_expression", "requires_python")


def _parse_metadata(data: bytes) -> dict:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidDistribution("the core metadata file is not UTF-8") from None
    raw, _unparsed = parse_email(text)
    metadata: dict = {}
    for key in _TEXT_FIELDS:
        value = raw.get(key)
        if isinstance(value, list):  # keywords may be parsed into a list
            value = ", ".join(value)
        if isinstance(value, str):
            metadata[key] = value
    for key in _LIST_FIELDS:
        value = raw.get(key)
        if isinstance(value, list):
            metadata[key] = [str(item) for item in value]
    urls = raw.get("project_urls")
    if isinstance(urls, dict):
        metadata["project_urls"] = {str(k): str(v) for k, v in urls.items()}
    if "platforms" in metadata:
        metadata["platform"] = ", ".join(metadata.pop("platforms"))
    return metadata
