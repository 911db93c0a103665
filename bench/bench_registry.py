"""Container registry benchmark: our registry against CNCF distribution 2.8.2 (Debian's docker-registry).

Both servers run side by side on loopback, each with its own temporary data directory, and the same
client drives them: blocking sockets that upload with zero-copy sendfile from files on disk and download
into one reused buffer, so the client costs little next to the servers. Every measurement is repeated and
the best run of each server is kept; servers take turns within a round so background noise (other
processes on the machine, the kernel flushing dirty pages) falls on all of them alike.

Printed ratios are ours / distribution where higher is better for us: throughput over throughput, and
distribution's wall time or memory over ours.

    .venv/bin/python bench/bench_registry.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import best, free_port, log, registry_cli, stop_process, wait_until_up, writer_account, wrk
from bench.results import RESULTS, write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Container registry (issue 2)"

MiB = 1024 * 1024
CHUNK = 8 * MiB
WORKSPACE = "bench"
EMAIL = "bench@example.com"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = f"{OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json"
CONCURRENT = 16


# --- test data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    path: Path
    size: int
    digest: str


def make_blob(directory: Path, name: str, size: int) -> Blob:
    path = directory / name
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            piece = os.urandom(min(remaining, CHUNK))
            hasher.update(piece)
            handle.write(piece)
            remaining -= len(piece)
    return Blob(path, size, "sha256:" + hasher.hexdigest())


# --- the client ---------------------------------------------------------------------------------------


class Conn:
    """One keep-alive HTTP/1.1 connection; bodies go out by sendfile and come in through one buffer."""

    def __init__(self, port: int, auth: Callable[[], str | None]) -> None:
        self.port = port
        self.auth = auth
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        self._buffer = memoryview(bytearray(4 * MiB))

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"",
                file: tuple[Path, int, int] | None = None, discard: bool = False
                ) -> tuple[int, http.client.HTTPMessage, bytes, int]:
        """(status, headers, body, bytes received); with ``discard`` the body is counted, not kept."""
        headers = dict(headers or {})
        if (token := self.auth()) is not None:
            headers["Authorization"] = token
        length = file[2] if file else len(body)
        if file or body or method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(length)
        if self.http.sock is None:
            self.http.connect()
            self.http.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.http.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            self.http.putheader(name, value)
        self.http.endheaders(body or None)
        if file:
            path, offset, count = file
            with open(path, "rb") as handle:
                self.http.sock.sendfile(handle, offset, count)  # os.sendfile, waiting out a full socket
        response = self.http.getresponse()
        received = 0
        if discard and response.status < 300:
            while n := response.readinto(self._buffer):
                received += n
            data = b""
        else:
            data = response.read()
            received = len(data)
        if response.will_close:
            self.http.close()
        return response.status, response.headers, data, received


class RegistryError(RuntimeError):
    pass


def _expect(what: str, status: int, body: bytes, *wanted: int) -> None:
    if status not in wanted:
        raise RegistryError(f"{what}: HTTP {status}: {body[:300]!r}")


def _target(location: str, **query: str) -> str:
    parts = urllib.parse.urlsplit(location)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if query:
        target += ("&" if parts.query else "?") + urllib.parse.urlencode(query)
    return target


def push_blob(conn: Conn, name: str, blob: Blob, chunked: bool) -> None:
    """POST then one PUT with the body (monolithic), or POST, PATCH chunks, PUT (chunked)."""
    status, headers, body, _ = conn.request("POST", f"/v2/{name}/blobs/uploads/")
    _expect("start upload", status, body, 202)
    location = headers["Location"]
    if chunked:
        offset = 0
        while offset < blob.size:
            count = min(CHUNK, blob.size - offset)
            status, headers, body, _ = conn.request(
                "PATCH", _target(location), {"Content-Type": "application/octet-stream",
                                             "Content-Range": f"{offset}-{offset + count - 1}"},
                file=(blob.path, offset, count))
            _expect("upload chunk", status, body, 202)
            location = headers["Location"]
            offset += count
        status, _, body, _ = conn.request("PUT", _target(location, digest=blob.digest))
    else:
        status, _, body, _ = conn.request("PUT", _target(location, digest=blob.digest),
                                          {"Content-Type": "application/octet-stream"},
                                          file=(blob.path, 0, blob.size))
    _expect("finish upload", status, body, 201)


def push_bytes(conn: Conn, name: str, data: bytes) -> str:
    """A small blob by POST then PUT (distribution 2.8 ignores a digest on the POST)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, body, _ = conn.request("POST", f"/v2/{name}/blobs/uploads/")
    _expect("start upload", status, body, 202)
    status, _, body, _ = conn.request("PUT", _target(headers["Location"], digest=digest), body=data,
                                      headers={"Content-Type": "application/octet-stream"})
    _expect("finish upload", status, body, 201)
    return digest


def pull_blob(conn: Conn, name: str, blob: Blob) -> None:
    status, _, body, received = conn.request("GET", f"/v2/{name}/blobs/{blob.digest}", discard=True)
    _expect("pull blob", status, body, 200)
    if received != blob.size:
        raise RegistryError(f"pulled {received} bytes of {blob.size}")


def push_image(conn: Conn, name: str, tag: str, layer: Blob) -> None:
    """A layer, its config and an OCI manifest, as docker push does them."""
    push_blob(conn, name, layer, chunked=False)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [layer.digest]}}).encode()
    config_digest = push_bytes(conn, name, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer.digest, "size": layer.size}],
    }).encode()
    status, _, body, _ = conn.request("PUT", f"/v2/{name}/manifests/{tag}", {"Content-Type": OCI_MANIFEST},
                                      body=manifest)
    _expect("put manifest", status, body, 201)


# --- the servers --------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += process_tree(int(child))
    return pids


def peak_rss_mib(pid: int) -> float:
    """VmHWM summed over the server's processes (every worker of ours)."""
    total_kib = 0
    for each in process_tree(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        total_kib += int(match.group(1)) if match else 0
    return total_kib / 1024


def pss_mib(pid: int) -> float:
    """Proportional set size summed over the server's processes: pages shared between workers
    (after fork) are split between them instead of counted once per process as VmHWM does."""
    total_kib = 0
    for each in process_tree(pid):
        try:
            rollup = Path(f"/proc/{each}/smaps_rollup").read_text()
        except OSError:
            continue
        match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
        total_kib += int(match.group(1)) if match else 0
    return total_kib / 1024


class PssSampler(threading.Thread):
    """The highest PSS of each server, sampled every 0.1 s while the benchmark runs."""

    def __init__(self, servers: list[Server]) -> None:
        super().__init__(daemon=True)
        self.servers = servers
        self.peak = {id(server): 0.0 for server in servers}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            for server in self.servers:
                if server.process is not None:
                    self.peak[id(server)] = max(self.peak[id(server)], pss_mib(server.process.pid))


@dataclass
class Server:
    label: str
    port: int
    data: Path
    process: subprocess.Popen | None = None
    results: dict[str, list[float]] = field(default_factory=dict)

    def auth(self) -> str | None:
        return None

    def wrk_headers(self, scheme: str) -> dict[str, str]:
        return {}

    def record(self, metric: str, value: float) -> None:
        self.results.setdefault(metric, []).append(value)

    def stop(self) -> None:
        stop_process(self.process)


class Distribution(Server):
    def start(self) -> None:
        config = self.data / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {self.data / 'root'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        log_path = self.data / "server.log"
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out,
                                            stderr=subprocess.STDOUT)
        wait_until_up(self.process, f"http://127.0.0.1:{self.port}/v2/", log_path)


class Ours(Server):
    def __init__(self, label: str, port: int, data: Path, workers: int | None, images: list[str]) -> None:
        super().__init__(label, port, data)
        self.workers = workers
        self.images = images
        self.secret = ""
        self.scheme = "bearer"
        self._bearer: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def cli(self, *args: str) -> str:
        return registry_cli(self.data / "root", *args)

    def start(self) -> None:
        self.secret = writer_account(self.data / "root", WORKSPACE, EMAIL)
        for image in self.images:
            self.cli("package", "create", f"{WORKSPACE}/{image}", "--type", "container",
                     "--repository", f"{WORKSPACE}/repo")
        log_path = self.data / "server.log"
        command = [str(ROOT / ".venv/bin/packages-registry"), "--data", str(self.data / "root"), "serve",
                   "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        env = {k: v for k, v in os.environ.items() if k != "PACKAGES_REGISTRY_WORKERS"}
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_until_up(self.process, f"http://127.0.0.1:{self.port}/v2/", log_path)

    @property
    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{EMAIL}:{self.secret}".encode()).decode()

    def token(self, *scopes: str) -> str:
        query = "&".join(f"scope={scope}" for scope in scopes)
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/auth/token?service=packages-registry&{query}",
                                         headers={"Authorization": self.basic})
        with urllib.request.urlopen(request, timeout=30) as response:
            return "Bearer " + json.load(response)["token"]

    def bearer(self) -> str:
        """A docker-style bearer token for every bench image, renewed well before it expires."""
        with self._lock:
            if self._bearer is None or time.monotonic() - self._bearer[0] > 120:
                token = self.token(*(f"repository:{WORKSPACE}/{image}:pull,push" for image in self.images))
                self._bearer = (time.monotonic(), token)
            return self._bearer[1]

    def auth(self) -> str | None:
        return self.bearer() if self.scheme == "bearer" else self.basic

    def wrk_headers(self, scheme: str) -> dict[str, str]:
        """What docker pull sends: a token for this one repository, pull only (or Basic credentials)."""
        token = self.token(f"repository:{WORKSPACE}/manifest:pull") if scheme == "bearer" else self.basic
        return {"Authorization": token}


# --- measurements -------------------------------------------------------------------------------------


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure_push(server: Server, blobs: list[Blob], chunked: bool) -> float:
    """MiB/s over a batch of distinct blobs on one connection."""
    conn = Conn(server.port, server.auth)
    try:
        seconds = timed(lambda: [push_blob(conn, f"{WORKSPACE}/blobs", blob, chunked) for blob in blobs])
    finally:
        conn.close()
    return sum(blob.size for blob in blobs) / MiB / seconds


def measure_pull(server: Server, blobs: list[Blob], times: int) -> float:
    conn = Conn(server.port, server.auth)
    try:
        pull_blob(conn, f"{WORKSPACE}/blobs", blobs[0])  # connection and page cache warm
        seconds = timed(lambda: [pull_blob(conn, f"{WORKSPACE}/blobs", blob) for _ in range(times) for blob in blobs])
    finally:
        conn.close()
    return sum(blob.size for blob in blobs) * times / MiB / seconds


def measure_concurrent(server: Server, layers: list[Blob], round_no: int) -> float:
    """Wall seconds for len(layers) images pushed at once, each on its own connection."""
    barrier = threading.Barrier(len(layers) + 1)
    failures: list[BaseException] = []

    def one(index: int, layer: Blob) -> None:
        conn = Conn(server.port, server.auth)
        try:
            conn.request("GET", "/v2/")  # connected (and a bearer token fetched) before the clock starts
            barrier.wait()
            push_image(conn, f"{WORKSPACE}/c{index}", f"r{round_no}", layer)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i, layer)) for i, layer in enumerate(layers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return seconds


def measure_wrk(server: Server, scheme: str, seconds: int) -> float:
    url = f"http://127.0.0.1:{server.port}/v2/{WORKSPACE}/manifest/manifests/latest"
    return wrk(url, {"Accept": ACCEPT, **server.wrk_headers(scheme)}, seconds)


def check_manifest_get(server: Server, scheme: str) -> None:
    headers = {"Accept": ACCEPT, **server.wrk_headers(scheme)}
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/v2/{WORKSPACE}/manifest/manifests/latest",
                                     headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200 or json.load(response).get("schemaVersion") != 2:
            raise RegistryError(f"{server.label}: manifest GET does not answer the manifest")


# --- the run ------------------------------------------------------------------------------------------


@dataclass
class Plan:
    sizes: list[tuple[str, int, int, int]]  # label, size, blobs per push batch, pulls per blob
    rounds: int
    big_rounds: int
    concurrent_size: int
    wrk_seconds: int


FULL = Plan(sizes=[("1 MiB", MiB, 32, 8), ("100 MiB", 100 * MiB, 2, 3), ("1 GiB", 1024 * MiB, 1, 2)],
            rounds=4, big_rounds=3, concurrent_size=10 * MiB, wrk_seconds=6)
QUICK = Plan(sizes=[("1 MiB", MiB, 8, 4), ("16 MiB", 16 * MiB, 1, 2)],
             rounds=1, big_rounds=1, concurrent_size=MiB, wrk_seconds=2)


def run(plan: Plan, servers: list[Server], work: Path) -> list[tuple[str, str, str, bool]]:
    """Returns rows (metric, unit, key, higher_is_better)."""
    rows: list[tuple[str, str, str, bool]] = []
    sampler = PssSampler(servers)
    sampler.start()
    data = work / "data"
    data.mkdir()
    counter = iter(range(1_000_000))

    def rotate(round_no: int) -> list[Server]:
        shift = round_no % len(servers)
        return servers[shift:] + servers[:shift]

    for label, size, batch, pulls in plan.sizes:
        rounds = plan.big_rounds if size >= 1024 * MiB else plan.rounds
        for chunked in (False, True):
            mode = "chunked" if chunked else "monolithic"
            key = f"push {label} {mode}"
            rows.append((f"blob push {label}, {mode}" + (f" ({CHUNK // MiB} MiB PATCHes)" if chunked else ""),
                         "MiB/s", key, True))
            for round_no in range(rounds):
                blobs = [make_blob(data, f"b{next(counter)}", size) for _ in range(batch)]
                for server in rotate(round_no):
                    server.record(key, measure_push(server, blobs, chunked))
                    log(f"  {server.label:<22} {key}: {server.results[key][-1]:.0f} MiB/s")
                pulled = blobs
                for blob in blobs:
                    blob.path.unlink()
        key = f"pull {label}"
        rows.append((f"blob pull {label}", "MiB/s", key, True))
        for round_no in range(rounds):
            for server in rotate(round_no):
                server.record(key, measure_pull(server, pulled, pulls))
                log(f"  {server.label:<22} {key}: {server.results[key][-1]:.0f} MiB/s")

    key = "concurrent"
    rows.append((f"{CONCURRENT} concurrent pushes ({plan.concurrent_size // MiB} MiB layer + config + manifest each)",
                 "s", key, False))
    for round_no in range(plan.rounds):
        layers = [make_blob(data, f"c{next(counter)}", plan.concurrent_size) for _ in range(CONCURRENT)]
        for server in rotate(round_no):
            server.record(key, measure_concurrent(server, layers, round_no))
            log(f"  {server.label:<22} {key}: {server.results[key][-1]:.2f} s")
        for layer in layers:
            layer.path.unlink()

    manifest_layer = make_blob(data, "manifest-layer", 4096)
    for server in servers:
        conn = Conn(server.port, server.auth)
        push_image(conn, f"{WORKSPACE}/manifest", "latest", manifest_layer)
        conn.close()
    for scheme in ("bearer", "basic"):
        key = f"manifest {scheme}"
        rows.append((f"manifest GET by tag, wrk -c32 ({'Bearer' if scheme == 'bearer' else 'Basic'} for ours)",
                     "req/s", key, True))
        for server in servers:
            check_manifest_get(server, scheme)
        for round_no in range(plan.rounds):
            for server in rotate(round_no):
                server.record(key, measure_wrk(server, scheme, plan.wrk_seconds))
                log(f"  {server.label:<22} {key}: {server.results[key][-1]:.0f} req/s")

    sampler.done.set()
    sampler.join()
    for server in servers:
        assert server.process is not None
        server.record("rss", peak_rss_mib(server.process.pid))
        server.record("pss", sampler.peak[id(server)])
    rows.append(("peak RSS (VmHWM summed over all processes)", "MiB", "rss", False))
    rows.append(("peak PSS (sampled every 0.1 s; shared pages split between processes)", "MiB", "pss", False))
    return rows


def render(rows: list[tuple[str, str, str, bool]], anchor: Server, ours: list[Server]) -> str:
    header = ["measurement", anchor.label]
    for server in ours:
        header += [server.label, "ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for title, unit, key, higher in rows:
        base = best(anchor.results[key], higher)
        cells = [f"{title} [{unit}]", _fmt(base)]
        for server in ours:
            value = best(server.results[key], higher)
            ratio = value / base if higher else base / value
            cells += [_fmt(value), f"**{ratio:.2f}x**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if shutil.which("docker-registry") is None or shutil.which("wrk") is None:
        sys.exit("needs Debian's docker-registry and wrk: apt-get install -y docker-registry wrk")
    work = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    images = ["blobs", "manifest", *(f"c{i}" for i in range(CONCURRENT))]
    anchor = Distribution("distribution 2.8.2", free_port(), work / "distribution")
    ours: list[Server] = [Ours("ours (default workers)", free_port(), work / "ours-default", None, images),
                          Ours("ours --workers 2", free_port(), work / "ours-w2", 2, images)]
    servers = [anchor, *ours]
    try:
        for server in servers:
            server.data.mkdir()
            server.start()  # type: ignore[attr-defined]
        log(f"servers up ({work}); measuring {'quick' if args.quick else 'full'} plan")
        rows = run(plan, servers, work)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    table = render(rows, anchor, ours)
    print(table)
    command = ".venv/bin/python bench/bench_registry.py" + (" --quick" if args.quick else "")
    if not args.no_write:
        write_section(SECTION, "bench_registry.py", command, f"Plan: {'quick' if args.quick else 'full'}, best of the rounds.\n\n{table}")
        log(f"results written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
