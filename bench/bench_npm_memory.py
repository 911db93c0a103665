"""Peak memory of the registry under concurrent big `npm publish` requests (issue 12's memory bound).

Starts the registry (embedded: SQLite + local disk), publishes N tarballs of SIZE MB at once (the
publish document npm sends: JSON with the tarball in base64), and reads the server process's resident
memory from /proc: VmRSS before, VmHWM (the peak) after. The aim: peak RSS under 300 MB for 8
publishes of 100 MB at once (about 1.07 GB of request bodies).

    .venv/bin/python bench/bench_npm_memory.py [--count 8] [--size-mb 100] [--quick]

Each client streams its body from a file on disk, so the clients' own memory does not matter.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    SERVER_COMMAND,
    free_port,
    log,
    registry_cli,
    stop_process,
    wait_until_up,
    writer_account,
)

MIB = 1024 * 1024


def memory(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def write_publish_body(path: Path, name: str, version: str, size: int) -> None:
    """The document `npm publish` sends, for a tarball of ``size`` random bytes, written to ``path``
    piece by piece (the base64 is streamed, never held whole)."""
    tarball_path = path.with_suffix(".tgz")
    with tarfile.open(tarball_path, mode="w:gz", compresslevel=1) as tar:
        manifest = json.dumps({"name": name, "version": version, "main": "index.js"}).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        info = tarfile.TarInfo("package/data.bin")
        info.size = size
        with open("/dev/urandom", "rb") as random:
            tar.addfile(info, _Limited(random, size))
    sha512, sha1 = hashlib.sha512(), hashlib.sha1()
    with open(tarball_path, "rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            sha512.update(block)
            sha1.update(block)
    length = tarball_path.stat().st_size
    filename = f"{name}-{version}.tgz"
    head = {"_id": name, "name": name, "dist-tags": {"latest": version}, "versions": {version: {
        "name": name, "version": version, "main": "index.js",
        "dist": {"integrity": "sha512-" + base64.b64encode(sha512.digest()).decode(), "shasum": sha1.hexdigest()}}},
        "_attachments": {filename: {"content_type": "application/octet-stream", "data": "", "length": length}}}
    before, after = json.dumps(head).split('"data": ""', 1)
    with open(path, "wb") as out, open(tarball_path, "rb") as handle:
        out.write(before.encode() + b'"data": "')
        for block in iter(lambda: handle.read(3 * MIB), b""):
            out.write(base64.b64encode(block))
        out.write(b'"' + after.encode())
    tarball_path.unlink()


class _Limited(io.RawIOBase):
    def __init__(self, handle, size: int) -> None:
        self.handle, self.left = handle, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.handle.read(min(len(buffer), self.left))
        buffer[:len(data)] = data
        self.left -= len(data)
        return len(data)


def publish(port: int, workspace: str, name: str, token: str, body: Path, results: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.monotonic()
    with open(body, "rb") as handle:
        connection.request("PUT", f"/npm/{workspace}/{name}", body=handle, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json",
            "Content-Length": str(body.stat().st_size)})
        response = connection.getresponse()
        response.read()
    results.append((response.status, time.monotonic() - started))
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="4 publishes of 20 MB")
    args = parser.parse_args()
    count, size = (4, 20 * MIB) if args.quick else (args.count, args.size_mb * 1000 * 1000)
    with tempfile.TemporaryDirectory(prefix="npm-memory-", dir=ROOT / "bench") as scratch:
        work = Path(scratch)
        data = work / "data"
        token = _writer(data)
        log(f"writing {count} publish documents of {size / 1e6:.0f} MB tarballs ...")
        bodies = []
        for i in range(count):
            body = work / f"body-{i}.json"
            write_publish_body(body, "big", f"1.0.{i}", size)
            bodies.append(body)
        port = free_port()
        log_path = work / "server.log"
        with open(log_path, "wb") as server_log:
            server = subprocess.Popen([*SERVER_COMMAND, "--data", str(data), "serve", "--host", "127.0.0.1",
                                       "--port", str(port)], stdout=server_log, stderr=subprocess.STDOUT, cwd=ROOT,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            wait_until_up(server, f"http://127.0.0.1:{port}/v2/", log_path)
            idle = memory(server.pid)
            results: list = []
            threads = [threading.Thread(target=publish, args=(port, "bench", "big", token, body, results))
                       for body in bodies]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            peak = memory(server.pid)
        finally:
            stop_process(server)
        total = sum(body.stat().st_size for body in bodies)
        statuses = sorted(status for status, _ in results)
        print(f"| {count} publishes of {size / 1e6:.0f} MB at once ({total / 1e6:.0f} MB of JSON) "
              f"| {idle['VmRSS'] / MIB:.0f} MiB | {peak['VmHWM'] / MIB:.0f} MiB | {elapsed:.1f} s "
              f"| {statuses.count(201)}/{count} |")
        if statuses != [201] * count:
            raise SystemExit(f"not every publish succeeded: {statuses}\n{log_path.read_text()[-3000:]}")


def _writer(data: Path) -> str:
    data.mkdir(parents=True)
    token = writer_account(data, "bench", "dev@bench.example.com")
    registry_cli(data, "package", "create", "bench/big", "--type", "npm", "--repository", "bench/repo")
    return token


if __name__ == "__main__":
    main()
