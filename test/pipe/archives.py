"""Image archives written by hand (no docker engine needed): a classic ``docker save`` tar."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path


def _layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def write_docker_archive(target: Path, note: str, random_bytes: int = 0) -> Path:
    """A docker save tar of one image: a small layer, and one of ``random_bytes`` incompressible bytes."""
    layers = [_layer({"etc/note": f"{note}\n".encode()})]
    if random_bytes:
        layers.append(_layer({"data/random.bin": os.urandom(random_bytes)}))
    return write_docker_archive_of(target, layers, note)


def write_docker_archive_of(target: Path, layers: list[bytes], note: str, architecture: str = "amd64") -> Path:
    """A docker save tar of one image of these layer tars, whose config names ``architecture`` (as
    ``docker save`` on a runner of that architecture writes it)."""
    diff_ids = [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers]
    config = json.dumps({"architecture": architecture, "os": "linux", "config": {"Labels": {"note": note}},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    with tarfile.open(target, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        names = []
        for i, layer in enumerate(layers):
            names.append(f"{i:064x}/layer.tar")
            add(names[-1], layer)
        add(config_name, config)
        add("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [f"local/{note}:1"],
                                          "Layers": names}]).encode())
    return target
