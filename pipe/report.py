"""What the pipe tells the pipeline log: progress every few seconds, a line per tag, a summary,
and a push's fields for the result file (pipe/results.py). Secrets are masked in everything that goes
through logging.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, Self

from pipe.push.images import PushResult

MB = 1000 * 1000
PROGRESS_INTERVAL = 5.0


class SecretMask(logging.Filter):
    """Replaces secret values in log records (a tool may echo them, e.g. a build step)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.mask(record.getMessage())
            record.args = None
        return True


def install_mask(logger: logging.Logger, secrets: Iterable[str]) -> SecretMask:
    mask = SecretMask(secrets)
    for handler in logger.handlers:
        handler.addFilter(mask)
    logger.addFilter(mask)
    return mask


def megabytes(n: int) -> str:
    return f"{n / MB:.1f} MB"


class Progress:
    """Counts bytes sent from any thread; a ticker logs a line every ``interval`` seconds while busy."""

    def __init__(self, log: logging.Logger, interval: float = PROGRESS_INTERVAL) -> None:
        self.log = log
        self.interval = interval
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.monotonic()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.sent += n

    def __enter__(self) -> Self:
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def _tick(self) -> None:
        last = 0
        while not self._stop.wait(self.interval):
            sent = self.sent
            if sent == last:
                continue
            elapsed = max(time.monotonic() - self.started, 1e-6)
            self.log.info(f"Uploading: {megabytes(sent)} sent, {sent / MB / elapsed:.1f} MB/s")
            last = sent


def summary(result: PushResult, seconds: float) -> str:
    stats = result.stats
    blobs = stats.uploaded + stats.present + stats.mounted
    rate = stats.bytes_uploaded / MB / seconds if seconds > 0 else 0.0
    return (f"{blobs} blobs: {stats.uploaded} uploaded, {stats.present} already there, {stats.mounted} mounted; "
            f"{megabytes(stats.bytes_uploaded)} uploaded of {megabytes(result.size)} in {seconds:.1f} s "
            f"({rate:.1f} MB/s)")


def references(registry_netloc: str, result: PushResult) -> list[str]:
    return [f"{registry_netloc}/{result.name}:{tag}" for tag in result.tags]


def container_fields(registry_netloc: str, result: PushResult, seconds: float) -> dict[str, Any]:
    """A container push in the result file (``digestReference`` is what signing tools take)."""
    return {
        "registry": registry_netloc,
        "name": result.name,
        "tags": result.tags,
        "references": references(registry_netloc, result),
        "digest": result.digest,
        "digestReference": f"{registry_netloc}/{result.name}@{result.digest}",
        "mediaType": result.media_type,
        "size": result.size,
        "blobs": {"uploaded": result.stats.uploaded, "present": result.stats.present,
                  "mounted": result.stats.mounted},
        "bytesUploaded": result.stats.bytes_uploaded,
        "seconds": round(seconds, 3),
    }
