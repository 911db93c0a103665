"""PostgreSQL and an S3 store (Ceph radosgw) on 127.0.0.1, for the storage backends' tests.

Started by scripts/services/ceph-pg-up.sh (fixed ports: one instance per machine at a time)
and stopped by ceph-pg-down.sh, which kill by PID.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"
# The services listen on fixed ports: test runs of several checkouts on one machine take turns.
MACHINE_LOCK = Path("/tmp/packages-services.lock")
_held: dict[str, int] = {}


def _take_machine_lock(base: Path) -> None:
    fd = os.open(MACHINE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # waits for another run's services to stop
    _held[str(base)] = fd


def _release_machine_lock(base: Path) -> None:
    fd = _held.pop(str(base), None)
    if fd is not None:
        os.close(fd)


def start_services(base: Path) -> dict[str, str]:
    _take_machine_lock(base)
    env = {**os.environ, "BASE": str(base)}
    result = subprocess.run(["bash", str(SCRIPTS / "ceph-pg-up.sh")], env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        stop_services(base)
        raise RuntimeError(f"PostgreSQL + Ceph did not start (is another instance running?):\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    values = {}
    for line in (base / "env").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = value
    return values


def stop_services(base: Path) -> None:
    try:
        subprocess.run(["bash", str(SCRIPTS / "ceph-pg-down.sh")], env={**os.environ, "BASE": str(base)},
                       capture_output=True, check=False)
    finally:
        _release_machine_lock(base)
