"""A layer file followed while `docker save` writes it: the finished layer is given only once the
stream's reader has ended it, not as soon as its last byte is on disk (a fallback upload asking in
between got no layer: an AssertionError in the pipe, seen once in CI)."""

from __future__ import annotations

import threading
from pathlib import Path

from pipe.build.docker_save import GrowingLayer, RawLayer


def test_result_waits_for_the_end_not_the_last_byte(tmp_path: Path) -> None:
    file = tmp_path / "layer.tar"
    file.write_bytes(b"x" * 10)
    growing = GrowingLayer("abc/layer.tar", file, 10)
    got: list[RawLayer] = []
    asker = threading.Thread(target=lambda: got.append(growing.result()))
    asker.start()
    growing.wrote(10)  # every byte written, the layer not yet ended
    asker.join(0.3)
    assert asker.is_alive() and not got
    layer = RawLayer("abc/layer.tar", file, "sha256:" + "0" * 64, 10)
    growing.end(layer)
    asker.join(10)
    assert got == [layer]
