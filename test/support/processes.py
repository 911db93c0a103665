"""Starting and stopping the servers the tests need, by PID, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Container


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_answers(url: str, statuses: Container[int] | None = None) -> bool:
    """Whether ``url`` answers over HTTP: a success, or an error status in ``statuses`` (any status when
    None: a 401 or a 404 is up). A refused connection raises OSError, which ``wait_for`` waits through."""
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError as exc:
        return statuses is None or exc.code in statuses


def wait_for(check: Callable[[], bool], timeout: float, what: str, log_path: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    tail = ""
    if log_path and os.path.exists(log_path):
        with open(log_path, errors="replace") as handle:
            tail = handle.read()[-3000:]
    raise RuntimeError(f"{what} did not come up within {timeout}s\n{tail}")


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
