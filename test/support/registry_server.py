"""The bundled registry as the tests run it: a real server process and its admin CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from test.support.processes import free_port, stop, wait_for

READ = "read:package:bitbucket"
WRITE = "write:package:bitbucket"
CLI = [sys.executable, "-c", "from registry.cli import main; main()"]


@dataclass
class RegistryServer:
    data: Path
    port: int
    flags: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # e.g. PACKAGES_REGISTRY_DATABASE for other backends
    process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        """host:port, as docker and skopeo name the registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def start(self) -> RegistryServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [*CLI, "--data", str(self.data), "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.flags],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
        )
        log.close()

        def answering() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"registry exited: {self.log_path.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/v2/", timeout=1)
            except urllib.error.HTTPError as exc:
                return exc.code == 401
            return True

        wait_for(answering, 30, "registry", str(self.log_path))
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cli(self, *args: str, check: bool = True) -> str:
        result = subprocess.run([*CLI, "--data", str(self.data), *args], capture_output=True, text=True,
                                env={**os.environ, **self.env}, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"packages-registry {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    # --- building a world of workspaces, users and tokens ---

    def ensure_workspace(self, slug: str) -> None:
        self.cli("workspace", "create", slug, check=False)

    def ensure_repository(self, full_slug: str, project: str | None = None) -> None:
        self.ensure_workspace(full_slug.split("/", 1)[0])
        args = ["repository", "create", full_slug] + (["--project", project] if project else [])
        self.cli(*args, check=False)

    def user(self, email: str, roles: dict[str, str] | None = None, scopes: tuple[str, ...] = (READ, WRITE),
             expires_days: float | None = None) -> str:
        """Create (or reuse) a user with roles {repo: role}; return a new API token of theirs."""
        self.cli("user", "create", email, check=False)
        for repository, role in (roles or {}).items():
            self.ensure_repository(repository)
            self.cli("grant", email, repository, role)
        args = ["token", "create", email] + [arg for scope in scopes for arg in ("--scope", scope)]
        if expires_days is not None:
            args += ["--expires-days", str(expires_days)]
        return self.cli(*args)

    def package(self, full_name: str, repository: str, package_type: str = "container") -> None:
        self.ensure_repository(repository)
        self.cli("package", "create", full_name, "--type", package_type, "--repository", repository)

    def pipeline_token(self, repository: str, ttl: float | None = None) -> tuple[str, str]:
        self.ensure_repository(repository)
        args = ["pipeline-token", repository] + (["--ttl", str(ttl)] if ttl is not None else [])
        lines = dict(line.split("=", 1) for line in self.cli(*args).splitlines())
        return lines["BITBUCKET_PACKAGES_USERNAME"], lines["BITBUCKET_PACKAGES_TOKEN"]


def start_registry(base: Path, *flags: str) -> RegistryServer:
    base.mkdir(parents=True, exist_ok=True)
    return RegistryServer(data=base / "data", port=free_port(), flags=list(flags)).start()
