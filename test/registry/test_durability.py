"""What is durable when the registry answers 201: watched with strace on the server during one blob
push (a power cut is cheapest seen as the syscalls that must come before the answer)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import requests

from test.registry.conftest import World, admin
from test.support.oci_client import digest_of
from test.support.pypi_http import upload
from test.support.python_dists import make_wheel

SYSCALLS = "fsync,fdatasync,rename,renameat,renameat2,sendto,write,writev,sendmsg"


def test_a_blob_is_on_disk_before_its_201(world: World, tmp_path: Path) -> None:
    server = world.server
    client = world.client("write")
    assert client.push_blob(world.package, b"warm-up: threads and connections exist").status_code == 201
    trace = tmp_path / "trace"
    tracer = subprocess.Popen(["strace", "-f", "-yy", "-s", "40", "-e", f"trace={SYSCALLS}", "-o", str(trace),
                               "-p", str(server.process.pid)], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # attached to every thread by then
        blob = os.urandom(256 * 1024)
        assert client.push_blob(world.package, blob).status_code == 201
        time.sleep(0.5)
    finally:
        tracer.send_signal(signal.SIGINT)  # detaches; the server runs on
        tracer.wait(30)
    _assert_durable_before_answer(trace.read_text().splitlines(), [digest_of(blob)], "201")


def test_a_pypi_upload_is_on_disk_before_its_answer(world: World, tmp_path: Path) -> None:
    """The wheel, its rename, and the one commit that records it with its core metadata file (kept in the
    file's row) and the upload's audit entry: all on disk before twine hears 200."""
    server = world.server
    admin(server, "package", "create", f"{world.workspace}/durable", "--type", "pypi", "--repository",
          world.repository)
    url, auth = f"{server.url}/pypi/{world.workspace}/", (world.email("admin"), world.tokens["admin"])
    assert upload(url, make_wheel(tmp_path, "durable", "0.1"), auth).status_code == 200  # warm-up
    wheel = make_wheel(tmp_path, "durable", "1.0", extra_entries={"durable/data.bin": os.urandom(64 * 1024)})
    trace = tmp_path / "trace"
    tracer = subprocess.Popen(["strace", "-f", "-yy", "-s", "40", "-e", f"trace={SYSCALLS}", "-o", str(trace),
                               "-p", str(server.process.pid)], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # attached to every thread by then
        assert upload(url, wheel, auth).status_code == 200
        time.sleep(0.5)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    _assert_durable_before_answer(trace.read_text().splitlines(), [digest_of(wheel.read_bytes())], "200")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("durable-1.0.dist-info/METADATA")
    served = requests.get(f"{url}files/durable/{wheel.name}.metadata", auth=auth, timeout=30)
    assert served.status_code == 200 and served.content == metadata


def _assert_durable_before_answer(lines: list[str], digests: list[str], status: str) -> None:
    def first(pattern: str) -> int:
        for number, line in enumerate(lines):
            if re.search(pattern, line):
                return number
        raise AssertionError(f"no {pattern!r} in the trace:\n" + "\n".join(lines[-80:]))

    answered = first(rf"(sendto|write|writev|sendmsg)\(\d+<TCP:.*HTTP/1\.1 {status}")
    database_synced = max(number for number, line in enumerate(lines[:answered])
                          if re.search(r"f(data)?sync\(\d+<[^>]*metadata\.db(-wal)?>", line))
    for digest in digests:
        hex_digest = digest.split(":")[1]
        blob_path = f"blobs/sha256/{hex_digest[:2]}/{hex_digest}"
        renamed = first(rf"rename(at2?)?\(.*uploads/[0-9a-f-]+.*{blob_path}")
        upload_id = re.search(r"uploads/([0-9a-f-]+)", lines[renamed]).group(1)
        file_synced = first(rf"f(data)?sync\(\d+<[^>]*uploads/{upload_id}>")
        directory_synced = first(rf"fsync\(\d+<[^>]*blobs/sha256/{hex_digest[:2]}>")
        # The bytes, then the rename that makes them the blob, then the rename itself, then the metadata
        # commit that records the blob: all on disk before the client hears the answer.
        assert file_synced < renamed < directory_synced < answered, digest
        assert renamed < database_synced < answered, digest
