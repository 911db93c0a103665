"""PostgreSQL and an S3 store (Ceph radosgw) on 127.0.0.1, for the storage backends' tests.

Started by scripts/services/ceph-pg-up.sh (fixed ports: one instance per machine at a time)
and stopped by ceph-pg-down.sh, which kill by PID.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from test.support.processes import http_answers, wait_for

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "services"
# The services listen on fixed ports: test runs of several checkouts on one machine take turns.
MACHINE_LOCK = Path("/tmp/packages-services.lock")
_held: dict[str, int] = {}
# The S3 credentials and region the services' S3 store takes, by their AWS names.
S3_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


def shared_stores_env(services: dict[str, str], database: str, blobs: str) -> dict[str, str]:
    """A registry's environment for the services' stores: PostgreSQL ``database`` (a DSN) and the S3 location
    ``blobs`` (``s3://bucket/prefix``), with the S3 endpoint and credentials."""
    return {
        "PACKAGES_REGISTRY_DATABASE": database,
        "PACKAGES_REGISTRY_BLOBS": blobs,
        "PACKAGES_REGISTRY_S3_ENDPOINT": services["S3_ENDPOINT"],
        **{name: services[name] for name in S3_CREDENTIALS},
    }


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


class ServiceFaults:
    """Faults of the real services, as an operator meets them: PostgreSQL restarted, stopped or frozen
    (SIGSTOP on the postmaster and every backend), radosgw stopped and started again."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.pg_data = base / "pg" / "data"
        self.ceph = base / "ceph"

    # --- PostgreSQL ---

    def _pg_ctl(self, *args: str) -> None:
        pg_bin = max(Path("/usr/lib/postgresql").glob("*/bin"))
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        subprocess.run([*as_postgres, str(pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-l",
                        str(self.base / "pg" / "pg.log"), "-w", *args], check=True, capture_output=True, timeout=60)

    def pg_restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def pg_stop(self) -> None:
        # Remember how it was started (pg_ctl start does not reuse the options; restart does).
        self._pg_options = shlex.split((self.pg_data / "postmaster.opts").read_text())[3:]
        self._pg_ctl("-m", "fast", "stop")

    def pg_start(self) -> None:
        self._pg_ctl("-o", shlex.join(self._pg_options), "start")

    def _pg_processes(self) -> list[int]:
        postmaster = int((self.pg_data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def pg_freeze(self) -> None:
        for pid in self._pg_processes():  # the postmaster first: it forks no new backend meanwhile
            os.kill(pid, signal.SIGSTOP)

    def pg_thaw(self) -> None:
        for pid in self._pg_processes():
            os.kill(pid, signal.SIGCONT)

    # --- radosgw (the S3 gateway) ---

    def _rgw_pid(self) -> int | None:
        try:
            return int((self.ceph / "run" / "client.rgw.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def rgw_running(self) -> bool:
        pid = self._rgw_pid()
        return pid is not None and Path(f"/proc/{pid}").exists()

    def rgw_stop(self) -> None:
        pid = self._rgw_pid()
        assert pid is not None, "radosgw is not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def rgw_start(self, endpoint: str) -> None:
        subprocess.run(["radosgw", "-n", "client.rgw"], check=True, timeout=60,
                       env={**os.environ, "CEPH_CONF": str(self.ceph / "ceph.conf")})
        wait_for(lambda: http_answers(endpoint), 30, "radosgw")
