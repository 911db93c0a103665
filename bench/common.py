"""What every benchmark script needs: logging, ports, stopping servers, wrk, picking the best round."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from test.support.processes import free_port, http_answers, stop, wait_for  # noqa: F401 - free_port for the scripts

ROOT = Path(__file__).resolve().parent.parent
SERVER_COMMAND = [sys.executable, "-c", "from registry.cli import main; main()"]


def registry_cli(data: Path, *args: str) -> str:
    """One ``packages-registry`` admin command on the data directory ``data``; its stdout."""
    result = subprocess.run([*SERVER_COMMAND, "--data", str(data), *args], capture_output=True, text=True,
                            check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if result.returncode != 0:
        raise RuntimeError(f"packages-registry {' '.join(args)}: {result.stderr}")
    return result.stdout.strip()


def writer_account(data: Path, workspace: str, email: str) -> str:
    """Workspace, repository ``<workspace>/repo`` and a user with write on it; the user's read+write token."""
    registry_cli(data, "workspace", "create", workspace)
    registry_cli(data, "repository", "create", f"{workspace}/repo")
    registry_cli(data, "user", "create", email)
    registry_cli(data, "grant", email, f"{workspace}/repo", "write")
    return registry_cli(data, "token", "create", email, "--scope", "read:package:bitbucket",
                        "--scope", "write:package:bitbucket")


def wait_until_up(process: subprocess.Popen | None, url: str, log_path: Path, seconds: float = 60) -> None:
    """Until ``url`` answers anything at all over HTTP (a 401 or 404 is up); fail if the server exits."""
    def up() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()[-3000:]}")
        return http_answers(url)

    wait_for(up, seconds, url, str(log_path))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL if the server has not gone within 20 s."""
    if process is not None:
        stop(process, 20)


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int = 32, script: Path | None = None) -> float:
    """Requests per second that wrk (2 threads) gets from ``url`` (or the paths ``script`` picks);
    any error answer or broken connection spoils the run. A request slower than wrk's 2 s timeout is
    not an error (a server queueing under load, as waitress may): it counts as not done, and is logged."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    if script is not None:
        command += ["-s", str(script)]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if "Non-2xx" in output or socket_errors and any(int(n) for n in socket_errors.groups()[:3]):
        raise RuntimeError(f"wrk saw errors on {url}:\n{output}")
    if socket_errors and int(socket_errors.group(4)):
        log(f"wrk: {socket_errors.group(4)} request(s) over 2 s on {url}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    return float(match.group(1))


def best(values: list[float], higher_is_better: bool) -> float:
    return max(values) if higher_is_better else min(values)
