"""bench/RESULTS.md: each benchmark script owns one section and rewrites only its generated block.

A section is a ``## heading`` with hand-written notes around a block between
``<!-- SCRIPT: start -->`` and ``<!-- SCRIPT: end -->``; a run replaces that block and keeps the notes.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section: str, script: str, command: str, body: str) -> None:
    """Put ``body`` (the run's tables) into ``script``'s block of ``section``, creating either if missing."""
    start, end = f"<!-- {script}: start -->", f"<!-- {script}: end -->"
    block = (f"{start}\nLatest run ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores):\n\n"
             f"    {command}\n\n{body.strip()}\n{end}")
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if section not in text:
        text = text.rstrip("\n") + f"\n\n{section}\n\n{block}\n"
    else:
        head, _, rest = text.partition(section)
        next_heading = re.search(r"^## ", rest, re.MULTILINE)
        body_text, tail = (rest[:next_heading.start()], rest[next_heading.start():]) if next_heading else (rest, "")
        if start in body_text and end in body_text:
            before, _, after = body_text.partition(start)
            _, _, after = after.partition(end)
            body_text = before + block + after
        else:
            body_text = body_text.rstrip("\n") + f"\n\n{block}\n\n"
        text = head + section + body_text + tail
    RESULTS.write_text(text)
