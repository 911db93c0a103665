"""gc with no grace at all, run over and over from a process of its own while a test pushes images: the
collector beside the pushes (``GcLoop``) and one push racing it (``push_beside_gc``)."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Self

from test.support import oci_client as oci
from test.support.registry_server import CLI


class GcLoop:
    """``packages-registry gc --grace-seconds 0`` on ``data`` (with ``env`` on top of this process's), again
    and again until the ``with`` block ends or a run fails: ``runs`` counts the runs, ``failures`` holds
    the failed one's stderr. ``pause``: seconds between runs (none by default: back to back)."""

    def __init__(self, data: Path, env: dict[str, str] | None = None, pause: float = 0.0) -> None:
        self.argv = [*CLI, "--data", str(data), "gc", "--grace-seconds", "0"]
        self.env = {**os.environ, **(env or {})}
        self.pause = pause
        self.runs = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect)

    def _collect(self) -> None:
        while not self._stop.is_set():
            result = subprocess.run(self.argv, capture_output=True, text=True, env=self.env, check=False, timeout=120)
            if result.returncode != 0:
                self.failures.append(result.stderr)
                return
            self.runs += 1
            self._stop.wait(self.pause)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def push_beside_gc(client: oci.OciClient, name: str, img: oci.Image, reference: str) -> bool:
    """Push ``img`` while gc runs with no grace; whether its manifest was accepted. gc may take a pushed
    layer before its manifest arrives: the manifest is then refused, cleanly."""
    for blob in img.blobs.values():
        pushed = client.push_blob(name, blob)
        # With no grace at all, gc may drop an upload session under way: a clean 404, never a 5xx.
        assert pushed.status_code == 201 or oci.error_codes(pushed) == ["BLOB_UPLOAD_UNKNOWN"], pushed.text
    response = client.push_manifest(name, reference, img.manifest, img.media_type)
    if response.status_code == 201:
        return True
    assert oci.error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"], response.text
    return False
