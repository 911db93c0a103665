"""skopeo, as the tests run it: no signature policy, its auth file and runtime directory in the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SKOPEO = shutil.which("skopeo") or "skopeo"


def skopeo(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"), "XDG_RUNTIME_DIR": str(tmp_path)}
    result = subprocess.run([SKOPEO, "--insecure-policy", *args], capture_output=True, text=True, env=env,
                            check=False, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args[:2])} failed: {result.stderr[-3000:]}")
    return result
