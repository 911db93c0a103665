"""CNCF distribution (Debian's docker-registry) with htpasswd Basic auth, as another registry a team
moves from: started on a free loopback port, stopped by PID."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from test.support.processes import free_port, http_answers, stop, wait_for


@dataclass
class Distribution:
    root: Path
    port: int
    username: str
    password: str
    process: subprocess.Popen

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop(self.process)


def start_distribution(root: Path, username: str = "mover", password: str = "old-registry-secret") -> Distribution:
    root.mkdir(parents=True, exist_ok=True)
    (root / "htpasswd").write_text(f"{username}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()}\n")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"auth:\n  htpasswd:\n    realm: test\n    path: {root / 'htpasswd'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    log = open(root / "registry.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = Distribution(root, port, username, password, process)

    wait_for(lambda: http_answers(f"http://{server.host}/v2/", (401,)), 30, "distribution",
             str(root / "registry.log"))
    return server
