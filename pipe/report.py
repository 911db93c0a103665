"""What the pipe tells the pipeline log: a line per tag, a summary (progress: pipe/progress.py), and a
push's fields for the result file (pipe/results.py). Secrets are masked in everything that goes
through logging.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pipe.push.images import PushResult

MB = 1000 * 1000


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
