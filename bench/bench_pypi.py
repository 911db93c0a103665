"""PyPI index benchmark: our registry against pypiserver 2.4.2 (its default backend, served by
waitress, its recommended WSGI server) holding the same files.

pypiserver is the index a team would otherwise run for private packages. Both run side by side on
loopback, each with its own temporary directory, and take turns within each round; the best round
of each is kept (the machine is shared). pypiserver runs without authentication (`-P . -a .`);
ours checks Basic credentials on every request.

- **upload**: 50 wheels of 64 KiB, one after another, each a multipart POST as twine sends it
  (the request's latency: ours checks the digests and reads the wheel's metadata before answering).
  The first round stores the files the other measures read; each further round uploads a new version
  of the 50 projects after all the reads.
- **GET simple page**: `wrk -t2 -c32` over the 50 projects' `/simple/<project>/` pages.
- **GET file**: `wrk -t2 -c32` over the 50 wheels.
- **pip install**: `pip install --target` of the 50 projects from each index, into an empty
  directory with no cache (pip's own work is most of it), first in each round, on a quiet server
  (right after wrk's load, waitress answered pip seconds late).

For reference only, the uploads are also timed against ours run under eatmydata, which makes every
fsync a no-op: pypiserver syncs nothing before it answers, and that row shows how much of our upload
latency is durability (ours makes the file, its metadata and their records durable before the 200).

Ratios are ours / pypiserver (throughput, or time inverted): **higher is better for us**.
Aims: ≥ 2x on GETs, ≥ 1.0x on uploads and pip install.

    .venv/bin/python bench/bench_pypi.py [--rounds N] [--seconds S] [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

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
from test.support.pypi_http import upload_fields
from test.support.python_dists import make_wheel

SECTION = "## PyPI index (issue 15)"
UNSYNCED = "ours-eatmydata"
WORKSPACE = "bench"
EMAIL = "bench@example.com"
PROJECTS = 50
PAYLOAD = 64 * 1024


@dataclass
class Server:
    name: str
    upload_url: str
    index_url: str  # the simple index, ending in /
    auth: tuple[str, str] | None
    process: subprocess.Popen

    @property
    def headers(self) -> dict[str, str]:
        if self.auth is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()}

    def pip_index(self) -> str:
        if self.auth is None:
            return self.index_url
        scheme, rest = self.index_url.split("://", 1)
        return f"{scheme}://{self.auth[0].replace('@', '%40')}:{self.auth[1]}@{rest}"


def make_wheels(directory: Path, version: str = "1.0") -> list[Path]:
    import os

    directory.mkdir(exist_ok=True)
    wheels = []
    for i in range(PROJECTS):
        name = f"benchpkg-{i:02d}"
        module = name.replace("-", "_")
        wheels.append(make_wheel(directory, name, version,
                                 extra_entries={f"{module}/data.bin": os.urandom(PAYLOAD)}))
    return wheels


def start_ours(work: Path, name: str = "ours", wrapper: tuple[str, ...] = ()) -> Server:
    data = work / name
    token = writer_account(data, WORKSPACE, EMAIL)
    registry_cli(data, "grant", EMAIL, f"{WORKSPACE}/repo", "admin")
    for i in range(PROJECTS):
        registry_cli(data, "package", "create", f"{WORKSPACE}/benchpkg-{i:02d}", "--type", "pypi",
                     "--repository", f"{WORKSPACE}/repo")
    port = free_port()
    log_path = work / f"{name}.log"
    process = subprocess.Popen([*wrapper, *SERVER_COMMAND, "--data", str(data), "serve", "--port", str(port)],
                               cwd=ROOT, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    wait_until_up(process, f"http://127.0.0.1:{port}/v2/", log_path)
    base = f"http://127.0.0.1:{port}/pypi/{WORKSPACE}/"
    return Server(name, base, base + "simple/", (EMAIL, token), process)


def start_pypiserver(work: Path) -> Server:
    packages = work / "pypiserver"
    packages.mkdir()
    port = free_port()
    log_path = work / "pypiserver.log"
    process = subprocess.Popen([str(Path(sys.executable).parent / "pypi-server"), "run", "-p", str(port), "-P", ".",
                                "-a", ".", str(packages)],
                               stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    wait_until_up(process, f"http://127.0.0.1:{port}/simple/", log_path)
    base = f"http://127.0.0.1:{port}/"
    return Server("pypiserver", base, base + "simple/", None, process)


def upload_all(server: Server, wheels: list[Path]) -> float:
    """Seconds to upload every wheel, one after another (twine's way: one POST each)."""
    session = requests.Session()
    started = time.perf_counter()
    for wheel in wheels:
        data = wheel.read_bytes()
        name, version = wheel.name.split("-")[:2]
        response = session.post(server.upload_url, data=upload_fields(name.replace("_", "-"), version, data),
                                files={"content": (wheel.name, data, "application/octet-stream")},
                                auth=server.auth, timeout=60)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{server.name} upload of {wheel.name}: {response.status_code} {response.text[:200]}")
    return time.perf_counter() - started


def rotating_script(work: Path, paths: list[str]) -> Path:
    script = work / f"paths-{abs(hash(tuple(paths)))}.lua"
    quoted = ", ".join(f'"{path}"' for path in paths)
    script.write_text(f"local paths = {{{quoted}}}\nlocal i = 0\nrequest = function()\n"
                      "  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n")
    return script


def simple_paths(server: Server) -> list[str]:
    path = "/" + server.index_url.split("/", 3)[3]
    return [f"{path}benchpkg-{i:02d}/" for i in range(PROJECTS)]


def file_paths(server: Server) -> list[str]:
    """The wheels' paths, as each index's own simple page links them."""
    paths = []
    for i in range(PROJECTS):
        page = requests.get(f"{server.index_url}benchpkg-{i:02d}/", auth=server.auth, timeout=30).text
        href = page.split('href="', 1)[1].split('"', 1)[0].split("#", 1)[0]
        if href.startswith("http"):
            href = "/" + href.split("/", 3)[3]
        elif href.startswith("../"):
            href = "/" + href.replace("../", "")
        paths.append(href)
    return paths


def pip_install(server: Server, work: Path) -> float:
    target = Path(tempfile.mkdtemp(dir=work))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-cache-dir", "--no-deps", "--target",
                    str(target), "--index-url", server.pip_index(),
                    *[f"benchpkg-{i:02d}" for i in range(PROJECTS)]], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(target)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round of 2 s")
    parser.add_argument("--no-write", action="store_true", help="print the table only; leave bench/RESULTS.md alone")
    options = parser.parse_args()
    rounds, seconds = (1, 2) if options.quick else (options.rounds, options.seconds)
    work = Path(tempfile.mkdtemp(prefix="bench-pypi-"))
    servers: list[Server] = []
    try:
        wheels = make_wheels(work / "wheels")
        servers = [start_ours(work), start_pypiserver(work)]
        # For reference, not as an anchor: ours with every fsync made a no-op (eatmydata), which shows what
        # of the upload latency is durability (pypiserver syncs nothing before it answers).
        servers.append(start_ours(work, UNSYNCED, ("eatmydata",)))
        readers = servers[:2]  # the reads are measured on ours and the anchor only
        results: dict[str, dict[str, list[float]]] = {s.name: {} for s in servers}
        for server in servers:  # the first upload stores the files both benchmarks read
            results[server.name]["upload"] = [upload_all(server, wheels) / PROJECTS]
        scripts = {s.name: (rotating_script(work, simple_paths(s)), rotating_script(work, file_paths(s)))
                   for s in readers}
        for round_number in range(rounds):
            for server in readers:
                base = server.index_url.split("/", 3)
                origin = f"{base[0]}//{base[2]}"
                simple_script, file_script = scripts[server.name]
                got = results[server.name]
                # pip first, on a quiet server: right after wrk's load, waitress answers pip's requests
                # (each on a new connection) seconds late, which measured its recovery, not pip install.
                got.setdefault("pip", []).append(pip_install(server, work))
                got.setdefault("simple", []).append(wrk(origin, server.headers, seconds, script=simple_script))
                got.setdefault("file", []).append(wrk(origin, server.headers, seconds, script=file_script))
                log(f"round {round_number + 1} {server.name}: simple {got['simple'][-1]:.0f} req/s, file "
                    f"{got['file'][-1]:.0f} req/s, pip install {got['pip'][-1]:.1f} s")
        for round_number in range(1, rounds):  # after every read: the pages and the installs stay as they were
            wheels = make_wheels(work / f"wheels-{round_number}", f"1.0.{round_number}")
            for server in servers:
                results[server.name]["upload"].append(upload_all(server, wheels) / PROJECTS)
        for server in servers:
            log(f"{server.name} upload: " + ", ".join(f"{mean * 1000:.1f} ms" for mean in
                                                      results[server.name]["upload"]))
        ours, anchor = results["ours"], results["pypiserver"]
        rows = []
        for key, label, higher in (("simple", "GET /simple/<project>/ (req/s)", True),
                                   ("file", "GET a 64 KiB wheel (req/s)", True),
                                   ("upload", f"upload one wheel (s, mean of {PROJECTS})", False),
                                   ("pip", f"pip install of {PROJECTS} projects (s)", False)):
            a, b = best(ours[key], higher), best(anchor[key], higher)
            ratio = a / b if higher else b / a
            rows.append(f"| {label} | {a:.3g} | {b:.3g} | **{ratio:.2f}x** |")
        a, b = best(results[UNSYNCED]["upload"], False), best(anchor["upload"], False)
        rows.append(f"| upload one wheel, ours with fsync made a no-op by eatmydata (for reference: not how it "
                    f"runs) | {a:.3g} | {b:.3g} | {b / a:.2f}x |")
        body = ("| measure | ours | pypiserver 2.4.2 | ratio (ours vs pypiserver) |\n|---|---|---|---|\n"
                + "\n".join(rows) + f"\n\nBest of {rounds} round(s) of {seconds} s; one worker each.")
        print(body)
        if options.no_write:
            return
        write_section(SECTION, "bench_pypi.py", "bench/bench_pypi.py" + (" --quick" if options.quick else ""), body)
    finally:
        for server in servers:
            stop_process(server.process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
