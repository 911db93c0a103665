"""What is durable when the registry answers 201: watched with strace on the server during one blob
push (a power cut is cheapest seen as the syscalls that must come before the answer)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from test.registry.conftest import World
from test.support.oci_client import digest_of

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
    lines = trace.read_text().splitlines()
    hex_digest = digest_of(blob).split(":")[1]
    blob_path = f"blobs/sha256/{hex_digest[:2]}/{hex_digest}"

    def first(pattern: str) -> int:
        for number, line in enumerate(lines):
            if re.search(pattern, line):
                return number
        raise AssertionError(f"no {pattern!r} in the trace:\n" + "\n".join(lines[-80:]))

    renamed = first(rf"rename(at2?)?\(.*uploads/[0-9a-f-]+.*{blob_path}")
    upload = re.search(r"uploads/([0-9a-f-]+)", lines[renamed]).group(1)
    file_synced = first(rf"f(data)?sync\(\d+<[^>]*uploads/{upload}>")
    directory_synced = first(rf"fsync\(\d+<[^>]*blobs/sha256/{hex_digest[:2]}>")
    answered = first(r"(sendto|write|writev|sendmsg)\(\d+<TCP:.*HTTP/1\.1 201")
    database_synced = max(number for number, line in enumerate(lines[:answered])
                          if re.search(r"f(data)?sync\(\d+<[^>]*metadata\.db(-wal)?>", line))
    # The bytes, then the rename that makes them the blob, then the rename itself, then the metadata
    # commit that records the blob: all on disk before the client hears 201.
    assert file_synced < renamed < directory_synced < answered
    assert renamed < database_synced < answered
