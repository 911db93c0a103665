"""Maven repository benchmark: our registry against nginx (Debian's 1.22) serving the same files.

nginx is the anchor a team would otherwise run: a plain directory of Maven files, served from disk
with sendfile, and written by WebDAV PUT (``dav_methods PUT``). Both run side by side on loopback,
each with its own temporary directory and the same number of worker processes, and take turns
within each round; the best round of each is kept (the machine is shared).

- **deploy**: 50 artifacts (a 128 KiB jar and a pom each), sent as maven-deploy-plugin 3.x sends
  them (direct HTTP, not mvn: the JVM's start-up would drown the servers' part): GET the artifact's
  maven-metadata.xml, then PUT jar, jar.sha1, jar.md5, pom, pom.sha1, pom.md5, maven-metadata.xml
  and its .sha1 and .md5, each PUT announcing ``Expect: 100-continue`` and sending its body after
  the server's 100. One keep-alive connection (as mvn deploys), and again with 8 clients at once.
  Ours checks Basic credentials on every request; nginx has no authentication.
- **GET**: ``wrk -t2 -c32`` over the 50 jars, the 50 poms and the 50 maven-metadata.xml (ours
  derives that document from what it stores; nginx serves the uploaded file). Beside them, a bare
  aiohttp server (bench/bare_aiohttp.py: the same files from memory, no authentication, no lookups)
  shows the ceiling of any handler written with aiohttp on this machine.

Ratios are ours / nginx throughput: **higher is better for us**. Aims: ≥ 0.5x (within 2x of nginx)
on GETs, ≥ 1.0x on deploys.

    .venv/bin/python bench/bench_maven.py [--rounds N] [--seconds S] [--quick] [--only ...]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (
    SERVER_COMMAND,
    best,
    free_port,
    log,
    registry_cli,
    stop_process,
    wait_until_up,
    writer_account,
    wrk,
)
from bench.results import write_section

SECTION = "## Maven repository (issue 3)"
WORKSPACE = "bench"
EMAIL = "bench@example.com"
GROUP = "com.example.bench"
ARTIFACTS = 50
JAR_SIZE = 128 * 1024
PARALLEL = 8


# --- what gets deployed -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    artifact_id: str
    version: str
    jar: bytes
    pom: bytes

    @property
    def directory(self) -> str:
        return f"{GROUP.replace('.', '/')}/{self.artifact_id}"

    def metadata(self) -> bytes:
        """The document mvn uploads after merging what it read (nothing, for a first deploy)."""
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<metadata><groupId>{GROUP}</groupId><artifactId>'
                f"{self.artifact_id}</artifactId><versioning><latest>{self.version}</latest><release>"
                f"{self.version}</release><versions><version>{self.version}</version></versions>"
                f"<lastUpdated>20260101000000</lastUpdated></versioning></metadata>\n").encode()

    def puts(self) -> list[tuple[str, bytes]]:
        base = f"{self.directory}/{self.version}/{self.artifact_id}-{self.version}"
        out: list[tuple[str, bytes]] = []
        for path, data in ((f"{base}.jar", self.jar), (f"{base}.pom", self.pom),
                           (f"{self.directory}/maven-metadata.xml", self.metadata())):
            out += [(path, data), (f"{path}.sha1", hashlib.sha1(data).hexdigest().encode()),
                    (f"{path}.md5", hashlib.md5(data).hexdigest().encode())]
        return out


def make_artifacts() -> list[Artifact]:
    artifacts = []
    for index in range(ARTIFACTS):
        artifact_id = f"lib{index:02d}"
        pom = (f'<?xml version="1.0"?>\n<project><modelVersion>4.0.0</modelVersion><groupId>{GROUP}</groupId>'
               f"<artifactId>{artifact_id}</artifactId><version>1.0</version></project>\n").encode()
        artifacts.append(Artifact(artifact_id, "1.0", os.urandom(JAR_SIZE), pom))
    return artifacts


# --- a client that speaks like maven's wagon: keep-alive, Expect: 100-continue --------------------------


class Conn:
    def __init__(self, port: int, prefix: str, authorization: str | None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.prefix = prefix
        self.authorization = authorization
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _head(self, method: str, path: str, extra: list[str]) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", "Host: 127.0.0.1", *extra]
        if self.authorization:
            lines.append(f"Authorization: {self.authorization}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _read_response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
            raise RuntimeError("chunked answers are not expected here")
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def get(self, path: str) -> int:
        self.sock.sendall(self._head("GET", path, []))
        return self._read_response()[0]

    def put(self, path: str, data: bytes) -> int:
        self.sock.sendall(self._head("PUT", path, [f"Content-Length: {len(data)}", "Expect: 100-continue",
                                                   "Content-Type: application/octet-stream"]))
        status, _ = self._read_response()
        if status != 100:
            return status
        self.sock.sendall(data)
        return self._read_response()[0]


def deploy(conn: Conn, artifact: Artifact) -> None:
    status = conn.get(f"{artifact.directory}/maven-metadata.xml")
    if status not in (200, 404):
        raise RuntimeError(f"metadata GET answered {status}")
    for path, data in artifact.puts():
        status = conn.put(path, data)
        if status not in (200, 201, 204):
            raise RuntimeError(f"PUT {path} answered {status}")


# --- the servers -------------------------------------------------------------------------------------


@dataclass
class Server:
    label: str
    workers: int
    base: Path
    port: int = 0
    prefix: str = "/"
    process: subprocess.Popen | None = None
    results: dict[str, list[float]] = field(default_factory=dict)

    def authorization(self) -> str | None:
        return None

    def conn(self) -> Conn:
        return Conn(self.port, self.prefix, self.authorization())

    def record(self, metric: str, value: float) -> None:
        self.results.setdefault(metric, []).append(value)

    def best(self, metric: str) -> float:
        return best(self.results[metric], higher_is_better=True)

    def wait_up(self, log_path: Path) -> None:
        wait_until_up(self.process, f"http://127.0.0.1:{self.port}/", log_path, seconds=30)

    def stop(self) -> None:
        stop_process(self.process)

    def reset(self) -> None:
        """Fresh, empty storage for the next deploy round."""
        raise NotImplementedError


class Nginx(Server):
    def start(self) -> None:
        self.port = self.port or free_port()
        for name in ("repo", "tmp"):
            (self.base / name).mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = "".join(f"  {kind}_temp_path {self.base / 'tmp' / kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.base / "nginx.conf").write_text(
            f"{user}worker_processes {self.workers};\ndaemon off;\npid {self.base / 'nginx.pid'};\n"
            f"error_log {self.base / 'error.log'} error;\n"
            "events { worker_connections 4096; }\n"
            "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n"
            f"{temp}  client_max_body_size 0;\n"
            "  types { application/java-archive jar; text/xml pom xml; text/plain sha1 md5; }\n"
            "  default_type application/octet-stream;\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n    root {self.base / 'repo'};\n"
            "    location / { dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r; }\n"
            "  }\n}\n")
        log_path = self.base / "error.log"
        self.process = subprocess.Popen(["nginx", "-p", str(self.base), "-c", str(self.base / "nginx.conf"),
                                         "-e", str(log_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.wait_up(log_path)

    def reset(self) -> None:
        shutil.rmtree(self.base / "repo", ignore_errors=True)
        (self.base / "repo").mkdir()


class Ours(Server):
    secret = ""

    def cli(self, *args: str) -> str:
        return registry_cli(self.base / "data", *args)

    def authorization(self) -> str | None:
        return "Basic " + base64.b64encode(f"{EMAIL}:{self.secret}".encode()).decode()

    def start(self) -> None:
        self.port = self.port or free_port()
        self.prefix = f"/maven/{WORKSPACE}/"
        self.secret = writer_account(self.base / "data", WORKSPACE, EMAIL)
        for index in range(ARTIFACTS):
            self.cli("package", "create", f"{WORKSPACE}/{GROUP}:lib{index:02d}", "--type", "maven",
                     "--repository", f"{WORKSPACE}/repo")
        log_path = self.base / "server.log"
        env = {k: v for k, v in os.environ.items() if k != "PACKAGES_REGISTRY_WORKERS"}
        env["PYTHONPATH"] = str(ROOT)
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(
                [*SERVER_COMMAND, "--data", str(self.base / "data"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.wait_up(log_path)

    def reset(self) -> None:
        # A fresh server (same port) on fresh storage: the packages exist, their files do not.
        self.stop()
        shutil.rmtree(self.base / "data", ignore_errors=True)
        self.start()


class BareAiohttp(Server):
    """The same files as nginx's, from memory, by a handler that does nothing else (GETs only)."""

    def __init__(self, label: str, workers: int, base: Path, files: Path) -> None:
        super().__init__(label, workers, base)
        self.files = files

    def start(self) -> None:
        self.port = self.port or free_port()
        self.base.mkdir(parents=True, exist_ok=True)
        log_path = self.base / "bare.log"
        with open(log_path, "wb") as out:
            # A session of its own: its forked workers are stopped with it.
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "bare_aiohttp.py"), str(self.files), str(self.port),
                 str(self.workers)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_up(log_path)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)


# --- measurements ------------------------------------------------------------------------------------


def measure_deploy(server: Server, artifacts: list[Artifact], parallel: int) -> float:
    """Artifacts deployed per second, with ``parallel`` clients sharing the work."""
    server.reset()
    queue = list(artifacts)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        conn = server.conn()
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    artifact = queue.pop()
                deploy(conn, artifact)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"deploy to {server.label} failed: {errors[0]}")
    return len(artifacts) / elapsed


WRK_SCRIPT = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def measure_wrk(server: Server, paths: list[str], seconds: int, work: Path) -> float:
    name = f"{server.label.split()[0]}-{server.workers}"
    listing = work / f"paths-{name}.txt"
    listing.write_text("".join(f"{server.prefix}{path}\n" for path in paths))
    script = work / f"rotate-{name}.lua"
    script.write_text(WRK_SCRIPT % listing)
    authorization = server.authorization()
    headers = {"Authorization": authorization} if authorization else {}
    return wrk(f"http://127.0.0.1:{server.port}/", headers, seconds, script=script)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    run: Callable[[Server], float]


@dataclass
class Trio:
    """The servers compared at one worker count: nginx (the anchor), ours, and bare aiohttp for GETs."""

    nginx: Nginx
    ours: Ours
    bare: BareAiohttp

    def stop(self) -> None:
        for server in (self.nginx, self.ours, self.bare):
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", nargs="+", help="measure only these (deploy1 deploy8 jar pom metadata)")
    parser.add_argument("--quick", action="store_true", help="2 rounds, wrk runs of 2 s, 1 worker")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.workers = 2, 2, [1]
    work = Path(tempfile.mkdtemp(prefix="bench-maven-"))
    artifacts = make_artifacts()
    jars = [f"{a.directory}/1.0/{a.artifact_id}-1.0.jar" for a in artifacts]
    poms = [f"{a.directory}/1.0/{a.artifact_id}-1.0.pom" for a in artifacts]
    metadata = [f"{a.directory}/maven-metadata.xml" for a in artifacts]
    metrics = [
        Metric("deploy1", f"deploy of {ARTIFACTS} artifacts, 1 client (as mvn) [artifacts/s]",
               lambda s: measure_deploy(s, artifacts, 1)),
        Metric("deploy8", f"deploy of {ARTIFACTS} artifacts, {PARALLEL} clients at once [artifacts/s]",
               lambda s: measure_deploy(s, artifacts, PARALLEL)),
        Metric("jar", f"GET jar ({JAR_SIZE // 1024} KiB, 50 rotating), wrk -c32 [req/s]",
               lambda s: measure_wrk(s, jars, args.seconds, work)),
        Metric("pom", "GET pom (50 rotating), wrk -c32 [req/s]",
               lambda s: measure_wrk(s, poms, args.seconds, work)),
        Metric("metadata", "GET maven-metadata.xml (50 rotating), wrk -c32 [req/s]",
               lambda s: measure_wrk(s, metadata, args.seconds, work)),
    ]
    if args.only:
        metrics = [metric for metric in metrics if metric.key in args.only]
    trios: list[Trio] = []
    try:
        for workers in args.workers:
            nginx = Nginx(f"nginx {workers}w", workers, work / f"nginx{workers}")
            trio = Trio(nginx, Ours(f"ours {workers}w", workers, work / f"ours{workers}"),
                        BareAiohttp(f"bare {workers}w", workers, work / f"bare{workers}", nginx.base / "repo"))
            trios.append(trio)
            for round_no in range(args.rounds):
                # bare aiohttp loads the files nginx holds when it starts: always after nginx.
                order = (trio.nginx, trio.ours) if round_no % 2 == 0 else (trio.ours, trio.nginx)
                for server in (*order, trio.bare):
                    if server.process is None:
                        server.start()
                        if server is not trio.bare and not any(m.key.startswith("deploy") for m in metrics):
                            measure_deploy(server, artifacts, PARALLEL)  # something to GET
                    for metric in metrics:
                        if server is trio.bare and metric.key.startswith("deploy"):
                            continue
                        value = metric.run(server)
                        server.record(metric.key, value)
                        log(f"round {round_no + 1} {server.label:10} {metric.key:9} {value:10.1f}")
            trio.stop()
    finally:
        for trio in trios:
            trio.stop()
    table = render(trios, metrics, args)
    print(table)
    if not args.no_write:
        command = "python bench/bench_maven.py" + (" --quick" if args.quick else "")
        write_section(SECTION, "bench_maven.py", command, table)
    shutil.rmtree(work, ignore_errors=True)


def render(trios: list[Trio], metrics: list[Metric], args: argparse.Namespace) -> str:
    lines = [f"Best of {args.rounds} rounds, servers taking turns, wrk runs of {args.seconds} s.", ""]
    for trio in trios:
        workers = trio.nginx.workers
        lines += [
            f"{workers} worker process{'es' if workers > 1 else ''} each:",
            "",
            "| measurement | nginx | ours | ours / nginx | bare aiohttp | bare / nginx |",
            "|---|---|---|---|---|---|",
        ]
        for metric in metrics:
            theirs, mine = trio.nginx.best(metric.key), trio.ours.best(metric.key)
            row = f"| {metric.label} | {theirs:.0f} | {mine:.0f} | **{mine / theirs:.2f}x** |"
            if metric.key in trio.bare.results:
                bare = trio.bare.best(metric.key)
                row += f" {bare:.0f} | {bare / theirs:.2f}x |"
            else:
                row += " | |"
            lines.append(row)
        lines.append("")
    lines.append("Ratios are ours / nginx, higher is better for us. Aims: ≥ 0.5x (within 2x of nginx) on GETs, "
                 "≥ 1.0x on deploys.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
