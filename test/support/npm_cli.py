"""The real npm CLI against a registry: a private .npmrc, cache and working directory per client.

Each client writes its own ``--userconfig`` file with the credentials for the registry URL, so no
test touches the user's ~/.npmrc or another test's cache.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

NPM = shutil.which("npm") or "npm"
QUIET = ["--no-audit", "--no-fund", "--no-update-notifier", "--loglevel", "warn"]


@dataclass
class NpmResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def json(self) -> object:
        return json.loads(self.stdout)


class NpmClient:
    """npm with one set of credentials for ``registry`` (``http://host:port/npm/WS/``)."""

    def __init__(self, home: Path, registry: str, auth: dict[str, str] | None = None) -> None:
        self.home = home
        self.registry = registry if registry.endswith("/") else registry + "/"
        home.mkdir(parents=True, exist_ok=True)
        self.userconfig = home / "npmrc"
        self.cache = home / "cache"
        self.write_config(auth or {})

    @classmethod
    def with_token(cls, home: Path, registry: str, token: str | None) -> NpmClient:
        return cls(home, registry, {"_authToken": token} if token else {})

    @classmethod
    def with_basic(cls, home: Path, registry: str, username: str, token: str) -> NpmClient:
        """``_auth`` = base64(username:token), as Bitbucket documents."""
        return cls(home, registry, {"_auth": base64.b64encode(f"{username}:{token}".encode()).decode()})

    @classmethod
    def with_password(cls, home: Path, registry: str, username: str, token: str) -> NpmClient:
        """``username`` + ``_password`` = base64(token), the other documented form."""
        return cls(home, registry, {"username": username,
                                    "_password": base64.b64encode(token.encode()).decode()})

    @property
    def nerf(self) -> str:
        """The registry URL without its scheme, as .npmrc keys credentials: ``//host:port/npm/WS/``."""
        return self.registry.split(":", 1)[1]

    def write_config(self, auth: dict[str, str]) -> None:
        lines = [f"registry={self.registry}"] + [f"{self.nerf}:{key}={value}" for key, value in auth.items()]
        self.userconfig.write_text("\n".join(lines) + "\n")

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.lower().startswith("npm_config_")}
        env.update({"NPM_CONFIG_USERCONFIG": str(self.userconfig), "NPM_CONFIG_CACHE": str(self.cache),
                    "NPM_CONFIG_UPDATE_NOTIFIER": "false", "HOME": str(self.home)})
        return env

    def args(self, *args: str) -> list[str]:
        return [NPM, *args, "--registry", self.registry, "--userconfig", str(self.userconfig),
                "--cache", str(self.cache), *QUIET]

    def run(self, *args: str, cwd: Path | None = None, check: bool = True, input: str | None = None,
            timeout: float = 120) -> NpmResult:
        result = subprocess.run(self.args(*args), cwd=cwd or self.home, capture_output=True, text=True,
                                env=self.env(), input=input, timeout=timeout, check=False)
        outcome = NpmResult(result.returncode, result.stdout, result.stderr)
        if check and not outcome.ok:
            raise AssertionError(f"npm {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return outcome

    def popen(self, *args: str, cwd: Path | None = None) -> subprocess.Popen:
        return subprocess.Popen(self.args(*args), cwd=cwd or self.home, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env())


def make_package(directory: Path, name: str, version: str, body: str = "", **extra: object) -> Path:
    """A publishable package: package.json, index.js exporting ``{name, version, body}``, a README."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"name": name, "version": version, "main": "index.js", "description": f"test package {name}",
                "license": "MIT", **extra}
    (directory / "package.json").write_text(json.dumps(manifest, indent=2))
    (directory / "index.js").write_text(
        f"module.exports = {{ name: {json.dumps(name)}, version: {json.dumps(version)}, body: {json.dumps(body)} }};\n")
    (directory / "README.md").write_text(f"# {name}\n\nVersion {version}.\n")
    return directory


def make_project(directory: Path) -> Path:
    """An empty project to install into."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    return directory


def node_require(project: Path, name: str) -> dict:
    """``require(name)`` in a fresh node process inside ``project``."""
    script = f"console.log(JSON.stringify(require({json.dumps(name)})))"
    result = subprocess.run([shutil.which("node") or "node", "-e", script], cwd=project, capture_output=True,
                            text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def run_in_terminal(client: NpmClient, args: list[str], answers: list[tuple[str, str]],
                    timeout: float = 60) -> tuple[int, str]:
    """Run npm on a pseudo-terminal (its prompts read passwords only from a TTY), answering each
    prompt in ``answers`` (prompt text, reply) in order; return (exit code, everything it printed)."""
    import pty
    import select
    import time

    leader, follower = pty.openpty()
    process = subprocess.Popen(client.args(*args), cwd=client.home, stdin=follower, stdout=follower,
                               stderr=follower, env=client.env(), close_fds=True)
    os.close(follower)
    output, pending = b"", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if pending and pending[0][0].encode() in output.rsplit(b"\n", 1)[-1]:
                os.write(leader, pending.pop(0)[1].encode() + b"\r")
                output += b"\n"
            if process.poll() is not None and not ready:
                break
        returncode = process.wait(max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        os.close(leader)
    return returncode, output.decode(errors="replace")
