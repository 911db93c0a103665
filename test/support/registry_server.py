"""The bundled registry as the tests run it: a real server process and its admin CLI."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from test.support.processes import free_port, http_answers, stop, wait_for

READ = "read:package:bitbucket"
WRITE = "write:package:bitbucket"
CLI = [sys.executable, "-c", "from registry.cli import main; main()"]
# Commands after which what ensure_workspace/ensure_repository remember still holds.
CREATING = {"workspace", "repository", "user", "grant", "token", "package", "pipeline-token", "project"}
# A server's environment as the CLI's own flags, so that its commands can run in this process.
ENV_FLAGS = {"PACKAGES_REGISTRY_DATABASE": "--database", "PACKAGES_REGISTRY_BLOBS": "--blobs",
             "PACKAGES_REGISTRY_S3_ENDPOINT": "--s3-endpoint",
             "PACKAGES_REGISTRY_SIGNING_KEY_FILE": "--signing-key-file"}
# One in-process CLI call at a time: it borrows sys.stdout and sys.stderr.
_IN_PROCESS = threading.Lock()


def run_cli_in_process(argv: list[str]) -> subprocess.CompletedProcess:
    """The admin CLI's own main() in this process, in a thread of its own (it calls asyncio.run,
    and the caller may be inside an event loop): the same code as the command, without paying
    seconds of interpreter start-up and imports per call on a busy machine."""
    from registry.cli import main

    out, err, code = io.StringIO(), io.StringIO(), [0]
    root = logging.getLogger()

    def call() -> None:
        handlers = list(root.handlers)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exc:
                code[0] = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception as exc:  # noqa: BLE001 - reported like the command's own traceback
                code[0] = 1
                print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            finally:  # main's logging.basicConfig would otherwise keep writing into this call's buffer
                for handler in set(root.handlers) - set(handlers):
                    root.removeHandler(handler)

    with _IN_PROCESS:
        worker = threading.Thread(target=call, name="packages-registry-cli")
        worker.start()
        worker.join()
    return subprocess.CompletedProcess(argv, code[0], out.getvalue(), err.getvalue())


@dataclass
class RegistryServer:
    data: Path
    port: int
    flags: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # e.g. PACKAGES_REGISTRY_DATABASE for other backends
    process: subprocess.Popen | None = None
    made: set[str] = field(default_factory=set)  # workspaces and repositories known to exist

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
            return http_answers(f"{self.url}/v2/", (401,))

        wait_for(answering, 30, "registry", str(self.log_path))
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def restart(self) -> None:
        self.stop()
        self.start()

    def command(self, *args: str) -> subprocess.CompletedProcess:
        """One ``packages-registry`` command on this server's stores, in this process when its
        environment can be given as flags; its exit status, stdout and stderr."""
        if args and args[0] not in CREATING or "delete" in args or "purge" in args:
            self.made.clear()  # a deletion or a restore may have changed what exists
        flags = [arg for name, value in self.env.items() if name in ENV_FLAGS for arg in (ENV_FLAGS[name], value)]
        argv = ["--data", str(self.data), *flags, *args]
        if all(name in ENV_FLAGS or os.environ.get(name) == value for name, value in self.env.items()):
            return run_cli_in_process(argv)
        # settings only the environment carries: a process of its own
        return subprocess.run([*CLI, *argv], capture_output=True, text=True, env={**os.environ, **self.env},
                              check=False)

    def cli(self, *args: str, check: bool = True) -> str:
        result = self.command(*args)
        if check and result.returncode != 0:
            raise RuntimeError(f"packages-registry {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    # --- building a world of workspaces, users and tokens ---

    def ensure_workspace(self, slug: str) -> None:
        if slug not in self.made:
            self.cli("workspace", "create", slug, check=False)
            self.made.add(slug)

    def ensure_repository(self, full_slug: str, project: str | None = None) -> None:
        if full_slug in self.made and project is None:
            return
        self.ensure_workspace(full_slug.split("/", 1)[0])
        args = ["repository", "create", full_slug] + (["--project", project] if project else [])
        self.cli(*args, check=False)
        self.made.add(full_slug)

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
