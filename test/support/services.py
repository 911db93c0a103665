"""PostgreSQL and an S3 store (Ceph radosgw) on 127.0.0.1, for the storage backends' tests.

Started by scripts/services/ceph-pg-up.sh (fixed ports: one instance per machine at a time)
and stopped by ceph-pg-down.sh, which kill by PID.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"


def start_services(base: Path) -> dict[str, str]:
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
    subprocess.run(["bash", str(SCRIPTS / "ceph-pg-down.sh")], env={**os.environ, "BASE": str(base)},
                   capture_output=True, check=False)
