"""Run every benchmark in turn (`make bench`); each one updates its own section of bench/RESULTS.md.

    .venv/bin/python bench/run_all.py [--only NAME ...]

The machine should be otherwise idle: each script runs its anchors side by side with ours in the same
run, so ratios hold up under some noise, but absolute numbers do not.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# Container registry first (everything else builds on it), then the pipe and the other protocols.
SCRIPTS = ["bench_registry.py", "bench_pipe_push.py", "bench_npm.py", "bench_maven.py"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="script names (e.g. bench_npm.py)")
    options = parser.parse_args()
    failed = []
    for script in options.only or SCRIPTS:
        path = BENCH / script
        if not path.exists():
            sys.exit(f"no such benchmark: {path}")
        print(f"==> {script}", flush=True)
        started = time.monotonic()
        if subprocess.run([sys.executable, str(path)], check=False).returncode != 0:
            failed.append(script)
        print(f"==> {script}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
    print(f"results: {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
