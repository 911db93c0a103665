"""A private docker engine for the tests: its own data-root, exec-root and socket."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from test.support.busybox import write_rootfs
from test.support.processes import free_port, stop, wait_for

DOCKER_CLI = shutil.which("docker") or "docker"


@dataclass
class Dockerd:
    root: Path
    process: subprocess.Popen
    tcp_port: int = 0

    @property
    def host(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"

    @property
    def tcp_host(self) -> str:
        """The engine over TCP on loopback, as a Pipelines step's docker service is reached (DOCKER_HOST)."""
        return f"tcp://127.0.0.1:{self.tcp_port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.root / "config")}

    def docker(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([DOCKER_CLI, *args], capture_output=True, text=True, env=self.env, input=input,
                                check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def import_busybox(self, tag: str = "busybox:local") -> str:
        """A tiny base image made from Debian's busybox-static (there is no Docker Hub here), of this
        machine's architecture (dockerd 20.10's import ignores the architecture of ``--platform``)."""
        rootfs = self.root / "busybox-rootfs.tar"
        if not rootfs.exists():
            write_rootfs(rootfs)
        subprocess.run([DOCKER_CLI, "import", str(rootfs), tag], check=True, capture_output=True, env=self.env)
        return tag


def start_dockerd(root: Path) -> Dockerd:
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed: run `make deps` (apt-get install docker.io)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "config").mkdir(exist_ok=True)
    tcp_port = free_port()
    log = open(root / "dockerd.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "dockerd.pid"), "-H", f"unix://{root / 'docker.sock'}",
         # Also on loopback TCP without TLS, like the docker service of a Pipelines step: pipe containers
         # (--network host) reach it as DOCKER_HOST=tcp://127.0.0.1:PORT.
         "-H", f"tcp://127.0.0.1:{tcp_port}",
         # No bridge and no iptables rules: several engines (parallel test runs) can coexist, and
         # containers that must reach a registry on loopback use --network host.
         "--bridge=none", "--iptables=false"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    engine = Dockerd(root, process, tcp_port)
    wait_for(lambda: engine.docker("version", check=False).returncode == 0, 60, "dockerd", str(root / "dockerd.log"))
    return engine


def stop_dockerd(engine: Dockerd) -> None:
    stop(engine.process, timeout=20)
