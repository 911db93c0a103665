"""The Python packaging clients as users run them: twine, uv, pip in a fresh venv, Poetry.

They come from the test extra of pyproject.toml (installed by `make deps`) and run as commands of
the project's venv, with their own config and cache directories under the test's temporary dir.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise RuntimeError(f"{name} is not installed in the venv: run `make deps`")
    return str(path)


def run(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    return result


def index_url(base: str, workspace: str, username: str, token: str) -> str:
    """The simple index URL with credentials in it, as pip and uv take them."""
    scheme, rest = base.split("://", 1)
    return f"{scheme}://{quote(username, safe='')}:{quote(token, safe='')}@{rest}/pypi/{workspace}/simple/"


def twine_upload(base: str, workspace: str, username: str, token: str, files: list[Path], *extra: str,
                 check: bool = True) -> subprocess.CompletedProcess:
    return run([tool("twine"), "upload", "--disable-progress-bar", "--non-interactive", "--repository-url",
                f"{base}/pypi/{workspace}/", *extra, *map(str, files)],
               env={"TWINE_USERNAME": username, "TWINE_PASSWORD": token}, check=check)


def fresh_venv(path: Path) -> Path:
    """A new venv with pip (python -m venv), as a user's project would have; returns its python."""
    run([sys.executable, "-m", "venv", str(path)])
    return path / "bin" / "python"


def uv(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
       check: bool = True) -> subprocess.CompletedProcess:
    return run([tool("uv"), *args], cwd=cwd, env={"UV_NO_CONFIG": "1", **(env or {})}, check=check)
