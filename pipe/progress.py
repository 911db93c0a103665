"""Progress of a push, as a log line every few seconds while it runs (none for a push shorter than that).

    Pushing ws/app: 2/5 layers, 130.0 of 300.0 MB (43%), 26.0 MB/s; docker save 180.0 of 300.0 MB read

Layers are done when the registry has them (uploaded, already there or mounted). Bytes done are
uploaded bytes plus the size of layers the registry already had; the total is the compressed size of
the layers compressed so far plus the uncompressed size of the others (it settles as compression
goes). The docker save part shows while the engine's stream is still being read and compressed.
Counters are updated from several threads; a daemon thread writes the lines.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Self

MB = 1000 * 1000
INTERVAL = 5.0


class PushProgress:
    def __init__(self, log: logging.Logger, what: str, interval: float = INTERVAL) -> None:
        self.log = log
        self.what = what
        self.interval = interval
        self.layers = 0
        self.seen = 0  # layers met in the docker save stream (an archive's count is known only at its end)
        self.layers_done = 0
        self.total = 0  # bytes, estimated until every layer is compressed
        self.done = 0
        self.uploaded = 0
        self.save_total = 0
        self.saved = 0
        self.reading: str | None = None  # what is still being read and compressed ("docker save")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.monotonic()

    # --- what the push reports ---

    def plan(self, layers: int, size: int, reading: str | None = None) -> None:
        """``layers`` blobs of about ``size`` bytes, read first from ``reading`` (docker save) when named."""
        with self._lock:
            self.layers, self.total = layers, size
            self.reading, self.save_total = reading, size if reading else 0

    def found_layer(self) -> None:
        with self._lock:
            self.seen += 1

    def read(self, n: int) -> None:
        """Bytes read from the docker save stream."""
        with self._lock:
            self.saved += n

    def save_finished(self) -> None:
        with self._lock:
            self.reading = None

    def resized(self, estimated: int, actual: int) -> None:
        """A layer counted at ``estimated`` bytes turned out ``actual`` bytes once compressed."""
        with self._lock:
            self.total += actual - estimated

    def __call__(self, n: int) -> None:
        """Bytes sent to the registry (negative: taken back after a failed chunk)."""
        with self._lock:
            self.uploaded += n
            self.done += n

    def layer_done(self, size: int, uploaded: bool) -> None:
        with self._lock:
            self.layers_done += 1
            if not uploaded:
                self.done += size

    # --- the lines ---

    def line(self) -> str:
        with self._lock:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            total = max(self.total, self.done, 1)
            layers = max(self.layers, self.seen)
            text = (f"Pushing {self.what}: {self.layers_done}/{layers} layers, {self.done / MB:.1f} of "
                    f"{total / MB:.1f} MB ({100 * self.done // total}%), {self.uploaded / MB / elapsed:.1f} MB/s")
            if self.reading:
                text += f"; {self.reading} {self.saved / MB:.1f} of {self.save_total / MB:.1f} MB read"
            return text

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
        while not self._stop.wait(self.interval):
            self.log.info(self.line())
