"""What every benchmark script needs: logging, ports, stopping servers, wrk, picking the best round."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL if the server has not gone within 20 s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int = 32, script: Path | None = None) -> float:
    """Requests per second that wrk (2 threads) gets from ``url`` (or the paths ``script`` picks);
    any error answer spoils the run."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    if script is not None:
        command += ["-s", str(script)]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw errors on {url}:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{output}")
    return float(match.group(1))


def best(values: list[float], higher_is_better: bool) -> float:
    return max(values) if higher_is_better else min(values)
