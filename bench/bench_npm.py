"""npm registry benchmark: our registry against verdaccio 6.8.0, side by side on loopback.

verdaccio is installed with npm under bench/.work/verdaccio (cached between runs; its package.json
pins ``"overrides": {"node-fetch": "2.7.0"}`` as it needs) and runs on node 20 with htpasswd auth
and every package private to authenticated users, as ours are. Both servers get the same requests
with a bearer token:

- packument GET (abbreviated, what ``npm install`` asks for, and full) and tarball GET req/s, with
  ``wrk`` (32 connections);
- publish latency: sequential ``npm publish``-shaped PUTs of small packages;
- 200 packages: publish them all (sequential PUTs, ours creating each package with ``--auto-create``
  from a pipeline token), then ``npm install`` all 200 into a fresh project with an empty cache.

Each measurement runs several rounds with the servers taking turns and keeps each server's best.
Ratios are ours / verdaccio, higher is better for us (req/s over req/s, verdaccio's time over ours).
The table is printed and written to its section of bench/RESULTS.md.

    /path/to/python bench/bench_npm.py [--quick]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
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

WORK = ROOT / "bench" / ".work"
VERDACCIO_DIR = WORK / "verdaccio"
VERDACCIO_VERSION = "6.8.0"
WORKSPACE = "bench"
EMAIL = "bench@example.com"
PACKAGE = "bench-lib"
WRK_CONNECTIONS = 32
ABBREVIATED = "application/vnd.npm.install-v1+json"
NPM = shutil.which("npm") or "npm"


# --- packages -------------------------------------------------------------------------------------


def tarball(name: str, version: str, payload: int = 2048) -> bytes:
    raw = io.BytesIO()
    files = {
        "package/package.json": json.dumps({"name": name, "version": version, "main": "index.js",
                                            "description": f"benchmark package {name}"}).encode(),
        "package/index.js": f"module.exports = {json.dumps(name)};\n".encode(),
        "package/data.txt": hashlib.sha256(name.encode()).hexdigest().encode() * (payload // 64),
    }
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    import gzip

    return gzip.compress(raw.getvalue(), mtime=0)


def publish_body(name: str, version: str, registry: str) -> bytes:
    data = tarball(name, version)
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    manifest = {"name": name, "version": version, "main": "index.js", "description": f"benchmark package {name}",
                "dist": {"integrity": integrity, "shasum": hashlib.sha1(data).hexdigest(),
                         "tarball": f"{registry}{name}/-/{name}-{version}.tgz"}}
    return json.dumps({
        "_id": name, "name": name, "description": manifest["description"], "dist-tags": {"latest": version},
        "versions": {version: manifest}, "access": None,
        "_attachments": {f"{name}-{version}.tgz": {"content_type": "application/octet-stream",
                                                   "data": base64.b64encode(data).decode(), "length": len(data)}},
    }).encode()


# --- the servers ------------------------------------------------------------------------------------


@dataclass
class Server:
    label: str
    port: int
    data: Path
    process: subprocess.Popen | None = None
    token: str = ""  # a bearer token for reads
    publish_token: str = ""  # a bearer token for publishes
    results: dict[str, list[float]] = field(default_factory=dict)

    @property
    def registry(self) -> str:
        raise NotImplementedError

    @property
    def path(self) -> str:
        return "/" + self.registry.split("/", 3)[3]

    def record(self, metric: str, value: float) -> None:
        self.results.setdefault(metric, []).append(value)

    def wait_up(self, log_path: Path) -> None:
        wait_until_up(self.process, self.registry + "-/ping", log_path, seconds=90)

    def stop(self) -> None:
        stop_process(self.process)


class Ours(Server):
    def __init__(self, label: str, port: int, data: Path, workers: int | None) -> None:
        super().__init__(label, port, data)
        self.workers = workers

    @property
    def registry(self) -> str:
        return f"http://127.0.0.1:{self.port}/npm/{WORKSPACE}/"

    def cli(self, *args: str) -> str:
        return registry_cli(self.data / "root", *args)

    def start(self) -> None:
        self.token = writer_account(self.data / "root", WORKSPACE, EMAIL)
        lines = dict(line.split("=", 1) for line in self.cli("pipeline-token", f"{WORKSPACE}/repo").splitlines())
        self.publish_token = lines["BITBUCKET_PACKAGES_TOKEN"]
        command = [*SERVER_COMMAND, "--data", str(self.data / "root"), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--auto-create"]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        env = {k: v for k, v in os.environ.items() if k != "PACKAGES_REGISTRY_WORKERS"}
        env["PYTHONPATH"] = str(ROOT)
        log_path = self.data / "server.log"
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.wait_up(log_path)


class Verdaccio(Server):
    @property
    def registry(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        install_verdaccio()
        config = self.data / "config.yaml"
        access = "    access: $authenticated\n    publish: $authenticated\n    unpublish: $authenticated\n"
        config.write_text(
            f"storage: {self.data / 'storage'}\n"
            f"auth:\n  htpasswd:\n    file: {self.data / 'htpasswd'}\n    max_users: 100\n"
            "uplinks: {}\n"
            f"packages:\n  '@*/*':\n{access}  '**':\n{access}"
            "server:\n  keepAliveTimeout: 60\n"
            "max_body_size: 100mb\n"
            # JWT API tokens: verdaccio's legacy tokens re-check the password (bcrypt) on every request,
            # which caps it at a few requests per second; JWT is its recommended, fast setting.
            "security:\n  api:\n    jwt:\n      sign:\n        expiresIn: 7d\n"
            "log: {type: stdout, format: pretty, level: error}\n"
        )
        log_path = self.data / "server.log"
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(
                ["node", str(VERDACCIO_DIR / "node_modules/verdaccio/bin/verdaccio"), "--config", str(config),
                 "--listen", f"127.0.0.1:{self.port}"], stdout=out, stderr=subprocess.STDOUT, cwd=self.data)
        self.wait_up(log_path)
        status, body = request(self, "PUT", "-/user/org.couchdb.user:bench", None, json.dumps(
            {"_id": "org.couchdb.user:bench", "name": "bench", "password": "bench-password-1", "type": "user",
             "roles": [], "date": "2026-01-01T00:00:00Z"}).encode())
        if status != 201:
            raise RuntimeError(f"verdaccio user creation: {status} {body[:300]!r}")
        self.token = self.publish_token = json.loads(body)["token"]


def install_verdaccio() -> None:
    marker = VERDACCIO_DIR / "node_modules/verdaccio/package.json"
    if marker.exists() and json.loads(marker.read_text())["version"] == VERDACCIO_VERSION:
        return
    VERDACCIO_DIR.mkdir(parents=True, exist_ok=True)
    (VERDACCIO_DIR / "package.json").write_text(json.dumps({
        "name": "bench-verdaccio", "version": "1.0.0", "private": True,
        "dependencies": {"verdaccio": VERDACCIO_VERSION}, "overrides": {"node-fetch": "2.7.0"}}, indent=2))
    log(f"installing verdaccio {VERDACCIO_VERSION} under {VERDACCIO_DIR} ...")
    subprocess.run([NPM, "install", "--no-audit", "--no-fund", "--no-update-notifier"], cwd=VERDACCIO_DIR,
                   check=True, capture_output=True)


def request(server: Server, method: str, path: str, token: str | None, body: bytes | None = None,
            conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, server.path + path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


# --- measurements -----------------------------------------------------------------------------------


def measure_gets(server: Server, seconds: int) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    base = server.registry
    server.record("abbreviated", wrk(base + PACKAGE, {**auth, "Accept": ABBREVIATED}, seconds, WRK_CONNECTIONS))
    server.record("full", wrk(base + PACKAGE, {**auth, "Accept": "application/json"}, seconds, WRK_CONNECTIONS))
    server.record("tarball", wrk(f"{base}{PACKAGE}/-/{PACKAGE}-1.0.0.tgz", auth, seconds, WRK_CONNECTIONS))


def measure_publish(server: Server, round_no: int, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    latencies = []
    try:
        for index in range(count):
            version = f"2.{round_no}.{index}"
            body = publish_body(PACKAGE, version, server.registry)
            started = time.perf_counter()
            status, answer = request(server, "PUT", PACKAGE, server.publish_token, body, conn)
            latencies.append(time.perf_counter() - started)
            if status not in (200, 201):
                raise RuntimeError(f"{server.label} publish: {status} {answer[:300]!r}")
    finally:
        conn.close()
    server.record("publish", statistics.median(latencies) * 1000)


def measure_many(server: Server, round_no: int, count: int, scratch: Path) -> None:
    names = [f"many-{round_no}-{index:03d}" for index in range(count)]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    bodies = [publish_body(name, "1.0.0", server.registry) for name in names]
    started = time.perf_counter()
    try:
        for name, body in zip(names, bodies, strict=True):
            status, answer = request(server, "PUT", name, server.publish_token, body, conn)
            if status not in (200, 201):
                raise RuntimeError(f"{server.label} publish {name}: {status} {answer[:300]!r}")
    finally:
        conn.close()
    server.record("many-publish", time.perf_counter() - started)
    project = scratch / f"{server.label.replace(' ', '_')}-{round_no}"
    project.mkdir(parents=True)
    (project / "package.json").write_text(json.dumps(
        {"name": "consumer", "version": "1.0.0", "private": True, "dependencies": dict.fromkeys(names, "1.0.0")}))
    nerf = server.registry.split(":", 1)[1]
    (project / "npmrc").write_text(f"registry={server.registry}\n{nerf}:_authToken={server.token}\n")
    command = [NPM, "install", "--registry", server.registry, "--userconfig", str(project / "npmrc"),
               "--cache", str(project / "cache"), "--no-audit", "--no-fund", "--no-update-notifier",
               "--loglevel", "error"]
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{server.label} npm install: {result.stderr[-3000:]}")
    installed = len([p for p in (project / "node_modules").iterdir() if p.name.startswith("many-")])
    if installed != count:
        raise RuntimeError(f"{server.label}: {installed} of {count} packages installed")
    server.record("many-install", elapsed)


# --- the report -------------------------------------------------------------------------------------

ROWS = [
    ("abbreviated", f"packument GET, abbreviated (install), wrk -c{WRK_CONNECTIONS} [req/s]", True),
    ("full", f"packument GET, full, wrk -c{WRK_CONNECTIONS} [req/s]", True),
    ("tarball", f"tarball GET (4 KiB), wrk -c{WRK_CONNECTIONS} [req/s]", True),
    ("publish", "publish latency, median of sequential PUTs [ms]", False),
    ("many-publish", "publish 200 packages, sequential [s]", False),
    ("many-install", "npm install of those 200 (fresh project, empty cache) [s]", False),
]


def fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def table(anchor: Server, ours: list[Server]) -> str:
    head = f"| measurement | {anchor.label} |" + "".join(f" {s.label} | ratio |" for s in ours)
    lines = [head, "|---|---|" + "---|---|" * len(ours)]
    for key, label, higher in ROWS:
        if key not in anchor.results:
            continue
        theirs = best(anchor.results[key], higher)
        cells = [f"| {label} | {fmt(theirs)} |"]
        for server in ours:
            mine = best(server.results[key], higher)
            ratio = mine / theirs if higher else theirs / mine
            cells.append(f" {fmt(mine)} | **{ratio:.2f}x** |")
        lines.append("".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round, 50 packages")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    rounds, seconds, many, publishes = (1, 3, 50, 10) if args.quick else (args.rounds, 5, 200, 30)
    install_verdaccio()
    scratch = Path(tempfile.mkdtemp(prefix="bench-npm-", dir=WORK if WORK.exists() else None))
    anchor = Verdaccio(f"verdaccio {VERDACCIO_VERSION}", free_port(), scratch / "verdaccio")
    ours = [Ours("ours (default workers)", free_port(), scratch / "ours", None),
            Ours("ours --workers 2", free_port(), scratch / "ours-w2", 2)]
    servers: list[Server] = [anchor, *ours]
    try:
        for server in servers:
            server.data.mkdir(parents=True)
            server.start()
            status, answer = request(server, "PUT", PACKAGE, server.publish_token,
                                     publish_body(PACKAGE, "1.0.0", server.registry))
            if status not in (200, 201):
                raise RuntimeError(f"{server.label} first publish: {status} {answer[:300]!r}")
        for round_no in range(rounds):
            order = servers if round_no % 2 == 0 else list(reversed(servers))
            for server in order:
                log(f"round {round_no + 1}/{rounds}: {server.label}")
                measure_gets(server, seconds)
                measure_publish(server, round_no, publishes)
                measure_many(server, round_no, many, scratch)
        report = table(anchor, ours)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    plan = "quick" if args.quick else "full"
    text = f"Plan: {plan}, best of {rounds} round(s), servers taking turns.\n\n{report}"
    print(text)
    if not args.no_write:
        command = f"python bench/bench_npm.py{' --quick' if args.quick else ''}"
        write_section("## npm registry (issue 3)", "bench_npm.py", command, text)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
