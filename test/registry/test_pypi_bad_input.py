"""Uploads the PyPI index must refuse: each with a clear 4xx message, nothing stored (no file row, no
blob, no spooled bytes left behind), no 5xx and no traceback in the log."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from registry.pypi.distributions import inspect_small_wheel
from test.registry.conftest import World, admin
from test.support.pypi_http import upload
from test.support.python_dists import make_wheel, metadata_text
from test.support.registry_server import RegistryServer, start_registry
from test.support.stall import assert_no_stall

MAX_FILE = 256 * 1024


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A server of its own: a small file limit, and a data dir whose blobs the tests can count."""
    server = start_registry(tmp_path_factory.mktemp("pypi-bad"), "--pypi-max-file-size", str(MAX_FILE))
    yield server
    server.stop()


@pytest.fixture
def target(small_server: RegistryServer, unique: str) -> tuple[World, str]:
    from test.registry.conftest import build_world

    world = build_world(small_server, unique)
    admin(small_server, "package", "create", f"{world.workspace}/victim", "--type", "pypi",
          "--repository", world.repository)
    return world, f"{small_server.url}/pypi/{world.workspace}/"


def _stored(server: RegistryServer) -> list[Path]:
    return [p for area in ("blobs", "spool", "uploads") for p in (server.data / area).rglob("*") if p.is_file()]


def _zip_with(path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


class _Zeros:
    """``size`` zero bytes, read as a file."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, size: int = -1) -> bytes:
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        return bytes(n)


def _gzip_bomb(path: Path, inflated: int) -> Path:
    """An sdist whose tar inflates to ``inflated`` bytes of zeros (a few hundred KB compressed)."""
    with gzip.open(path, "wb", compresslevel=9) as handle, tarfile.open(fileobj=handle, mode="w") as archive:
        info = tarfile.TarInfo("victim-1.0/PKG-INFO")
        data = metadata_text("victim", "1.0").encode()
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("victim-1.0/zeros")
        info.size = inflated
        archive.addfile(info, _Zeros(inflated))
    return path


def _cases(tmp: Path) -> list[tuple[str, Path, dict, int, str]]:
    """(what, file, form overrides, expected status, words the message must have)."""
    other = tmp / "other"
    other.mkdir()
    return [
        ("metadata names another project",
         make_wheel(tmp, "victim", "1.0", metadata=metadata_text("somebody-else", "1.0")), {}, 400,
         "names project 'somebody-else'"),
        ("metadata has another version",
         make_wheel(other, "victim", "1.1", metadata=metadata_text("victim", "9.9")), {}, 400, "version '9.9'"),
        ("file name does not parse", make_wheel(tmp, "victim", "1.2"), {"filename": "victim.whl"}, 400,
         "invalid file name"),
        ("not a wheel or sdist", make_wheel(tmp, "victim", "1.3"), {"filename": "victim-1.3.egg"}, 400,
         "only wheels"),
        ("zip with ../ entries",
         _zip_with(tmp / "victim-1.4-py3-none-any.whl",
                   {"victim-1.4.dist-info/METADATA": metadata_text("victim", "1.4").encode(),
                    "../../evil.py": b"print('pwned')"}), {}, 400, "outside its directory"),
        ("gzip bomb in an sdist", _gzip_bomb(tmp / "victim-1.0.tar.gz", 64 * 1024 * 1024), {}, 400,
         "compression bomb"),
        ("missing digests", make_wheel(tmp, "victim", "1.5"),
         {"sha256_digest": None, "md5_digest": None, "blake2_256_digest": None}, 400, "declares no digest"),
        ("wrong digest", make_wheel(tmp, "victim", "1.6"), {"sha256_digest": "0" * 64}, 400,
         "does not match the declared sha256"),
        ("form version differs from the file", make_wheel(tmp, "victim", "1.7"), {"version": "2.0"}, 400,
         "do not match the file"),
        ("not a zip at all", _plain(tmp / "victim-1.8-py3-none-any.whl"), {}, 400, "not a valid zip"),
        ("METADATA of corrupt deflate data", _corrupt_metadata(tmp, "1.10", encrypted=False), {}, 400,
         "METADATA cannot be read"),
        ("METADATA encrypted", _corrupt_metadata(tmp, "1.11", encrypted=True), {}, 400, "METADATA cannot be read"),
        ("METADATA in bzip2 (inflated without bound)",
         _zip_with(tmp / "victim-1.12-py3-none-any.whl", {"victim-1.12.dist-info/METADATA": metadata_text(
             "victim", "1.12").encode()}, zipfile.ZIP_BZIP2), {}, 400, "compressed with a method other than deflate"),
        ("oversized", _plain(tmp / "victim-1.9-py3-none-any.whl", MAX_FILE + 1), {}, 413, "larger than"),
    ]


def _corrupt_metadata(tmp: Path, version: str, encrypted: bool) -> Path:
    """A wheel whose METADATA entry is marked encrypted, or whose deflate data is garbage."""
    directory = tmp / f"corrupt-{version}"
    directory.mkdir()
    path = make_wheel(directory, "victim", version, description="lorem ipsum dolor sit amet\n" * 20)
    data = bytearray(path.read_bytes())
    name = f"victim-{version}.dist-info/METADATA".encode()
    if encrypted:
        entry = data.find(b"PK\x01\x02")
        while data[entry + 46:entry + 46 + len(name)] != name:
            entry = data.find(b"PK\x01\x02", entry + 4)
        data[entry + 8] |= 1  # the central directory's flag: encrypted
    else:
        start = data.find(b"PK\x03\x04")
        while data[start + 30:start + 30 + len(name)] != name:
            start = data.find(b"PK\x03\x04", start + 4)
        body = start + 30 + len(name) + int.from_bytes(data[start + 28:start + 30], "little")
        data[body:body + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    return path


def _plain(path: Path, size: int = 100) -> Path:
    path.write_bytes(b"x" * size)
    return path


def test_bad_uploads_are_refused_and_leave_nothing(target: tuple[World, str], tmp_path: Path) -> None:
    world, url = target
    auth = (world.email("admin"), world.tokens["admin"])
    server = world.server
    log_before = server.log_path.read_text()
    before = _stored(server)
    for what, path, overrides, status, words in _cases(tmp_path):
        filename = overrides.pop("filename", None)
        answer = upload(url, path, auth, name="victim", fields=overrides, filename=filename)
        assert answer.status_code == status, (what, answer.status_code, answer.text)
        assert words in answer.text, (what, answer.text)
        assert words[:40] in answer.reason or answer.status_code == 413, (what, answer.reason)  # twine shows it
    assert _stored(server) == before
    page = requests.get(f"{url}simple/victim/", auth=auth, timeout=30)
    assert page.status_code == 200 and "<a " not in page.text
    log = server.log_path.read_text()[len(log_before):]
    assert "Traceback" not in log and " 500 " not in log


def test_malformed_requests_get_4xx(target: tuple[World, str]) -> None:
    world, url = target
    auth = (world.email("admin"), world.tokens["admin"])
    cases = [
        ("no boundary", {"Content-Type": "multipart/form-data"}, b"--x\r\n"),
        ("not multipart", {"Content-Type": "application/json"}, b"{}"),
        ("non-UTF-8 field", {"Content-Type": "multipart/form-data; boundary=b"},
         b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\xfe\r\n--b--\r\n'),
        ("no file", {"Content-Type": "multipart/form-data; boundary=b"},
         b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nvictim\r\n--b--\r\n'),
    ]
    for what, headers, body in cases:
        answer = requests.post(url, data=body, headers=headers, auth=auth, timeout=30)
        assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text)
    unknown = upload(url, make_wheel(Path(world.server.data.parent), "nobody-made-me", "1.0"), auth)
    assert unknown.status_code == 404 and "--type pypi" in unknown.text


def test_a_gzip_bomb_does_not_stall_other_users(target: tuple[World, str], tmp_path: Path) -> None:
    world, url = target
    bomb = _gzip_bomb(tmp_path / "victim-2.0.tar.gz", 200 * 1024 * 1024)
    auth = (world.email("admin"), world.tokens["admin"])

    def three_bombs() -> list[int]:
        return [upload(url, bomb, auth, name="victim").status_code for _ in range(3)]

    assert assert_no_stall(world.server.url, auth, three_bombs, what="three gzip-bomb uploads") == [400] * 3


def _crowded_wheel(directory: Path, version: str, entries: int) -> Path:
    """A valid wheel of many tiny modules: its zip's directory is long to parse."""
    return make_wheel(directory, "victim", version,
                      extra_entries={f"victim/m{i}.py": b"" for i in range(entries)})


def _wordy_wheel(directory: Path, version: str, description_bytes: int) -> Path:
    """A valid wheel whose METADATA carries a long README: small compressed, long to parse."""
    return make_wheel(directory, "victim", version, description="lorem ipsum dolor sit amet\n" *
                      (description_bytes // 27))


def test_wheels_past_the_inline_bounds_are_read_in_a_thread(target: tuple[World, str], tmp_path: Path) -> None:
    """A small wheel is read on the event loop, a crowded or wordy one (as cheap to send) in a thread: both
    are accepted, and another user's requests are not held up while they are read, again and again."""
    world, url = target
    small = make_wheel(tmp_path, "victim", "3.0")
    crowded = _crowded_wheel(tmp_path, "3.1", 1000)
    wordy = _wordy_wheel(tmp_path, "3.2", 3 * 1024 * 1024)
    assert all(path.stat().st_size <= MAX_FILE for path in (crowded, wordy))
    assert inspect_small_wheel(small.read_bytes(), small.name) is not None
    assert inspect_small_wheel(crowded.read_bytes(), crowded.name) is None
    assert inspect_small_wheel(wordy.read_bytes(), wordy.name) is None

    auth = (world.email("admin"), world.tokens["admin"])

    def uploads() -> tuple[list[int], list[int]]:
        accepted = [upload(url, path, auth, name="victim").status_code for path in (small, crowded, wordy)]
        # Again: each is read before "File already exists" can be said.
        again = [upload(url, path, auth, name="victim").status_code for _ in range(3) for path in (crowded, wordy)]
        return accepted, again

    accepted, again = assert_no_stall(world.server.url, auth, uploads, what="crowded and wordy wheel uploads")
    assert accepted == [200] * 3 and again == [400] * 6
    index = requests.get(f"{url}simple/victim/", auth=auth, timeout=30).text
    assert all(path.name in index for path in (small, crowded, wordy))


def test_a_wheel_whose_zip_is_slow_to_parse_or_inflate_is_not_read_on_the_loop(tmp_path: Path) -> None:
    """Small files all: a METADATA in bzip2 that says it is short (zipfile inflates all it reads before it
    truncates: 700 bytes took 2 s and 500 MB here), long extra fields, long names, many metadata lines: each
    goes to a thread."""
    wheel = make_wheel(tmp_path, "victim", "4.0")
    with zipfile.ZipFile(wheel) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}

    def rebuilt(**changes: dict) -> bytes:
        """The wheel again, with some entries' ZipInfo attributes changed."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries.items():
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                for key, value in changes.get(name, {}).items():
                    setattr(info, key, value)
                archive.writestr(info, data)
        return buffer.getvalue()

    metadata = "victim-4.0.dist-info/METADATA"
    assert inspect_small_wheel(rebuilt(), wheel.name) is not None
    bzip2 = rebuilt(**{metadata: {"compress_type": zipfile.ZIP_BZIP2}})
    assert len(bzip2) < MAX_FILE and inspect_small_wheel(bzip2, wheel.name) is None
    extra = rebuilt(**{"victim/__init__.py": {"extra": b"\xaa\xaa\x00\x00" * 4000}})
    assert len(extra) < MAX_FILE and inspect_small_wheel(extra, wheel.name) is None
    long_name = make_wheel(tmp_path, "victim", "4.1", extra_entries={"victim/" + "a/" * 3000 + "m.py": b""})
    assert inspect_small_wheel(long_name.read_bytes(), long_name.name) is None
    # Within 32 KiB, a METADATA of short header lines took the email parser 40 ms.
    headers = "Metadata-Version: 2.1\nName: victim\nVersion: 4.2\n" + "X:\n" * 5000
    assert len(headers) < 32 * 1024
    lines = make_wheel(tmp_path, "victim", "4.2", metadata=headers)
    assert inspect_small_wheel(lines.read_bytes(), lines.name) is None


def test_an_upload_a_browser_sends_from_another_site_is_refused(target: tuple[World, str], tmp_path: Path) -> None:
    """A page of another site can make a browser POST a multipart form with the Basic credentials it
    keeps for the index; such an upload (Origin or Sec-Fetch-Site say so) is refused."""
    world, url = target
    auth = (world.email("admin"), world.tokens["admin"])
    wheel = make_wheel(tmp_path, "victim", "3.0")
    data = wheel.read_bytes()
    from test.support.pypi_http import upload_fields

    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = requests.post(url, data=upload_fields("victim", "3.0", data),
                               files={"content": (wheel.name, data, "application/octet-stream")}, auth=auth,
                               headers=headers, timeout=30)
        assert answer.status_code == 403, answer.text
    page = requests.get(f"{url}simple/victim/", auth=auth, timeout=30)
    assert wheel.name not in page.text
