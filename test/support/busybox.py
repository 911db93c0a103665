"""Debian's busybox-static for each architecture the tests make images of: this machine's own
(``/bin/busybox`` of the busybox-static package) and the other one (arm64 on amd64, amd64 on arm64),
unpacked by scripts/install-deps.sh from ``apt-get download busybox-static:<arch>``. The other one is
never run: pushing, merging and pulling an image of another platform needs no emulation.
"""

from __future__ import annotations

import functools
import struct
import subprocess
import tarfile
from pathlib import Path

NATIVE_BUSYBOX = Path("/bin/busybox")
OTHER_ARCHITECTURES = Path("/var/cache/packages-tests")  # busybox-static-<arch>/bin/busybox
APPLETS = ("sh", "ls", "cat", "echo", "env", "mkdir", "sleep", "true", "test", "wc", "head")
# ELF e_machine of each Debian architecture the tests use (the ELF specification's EM_X86_64, EM_AARCH64).
ELF_MACHINES = {"amd64": 62, "arm64": 183}


@functools.cache
def native_architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def other_architecture() -> str:
    """The architecture scripts/install-deps.sh fetches busybox-static of: arm64 on amd64, else amd64."""
    return "amd64" if native_architecture() == "arm64" else "arm64"


def busybox_binary(architecture: str) -> Path:
    if architecture == native_architecture():
        return NATIVE_BUSYBOX
    path = OTHER_ARCHITECTURES / f"busybox-static-{architecture}" / "bin" / "busybox"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: run `make deps` (it downloads busybox-static:{architecture})")
    return path


def write_rootfs(target: Path, architecture: str | None = None) -> Path:
    """A tiny root filesystem as a tar: busybox of ``architecture`` (this machine's by default), its
    applets as symlinks, and /tmp, /etc, /root."""
    with tarfile.open(target, "w") as tar:
        tar.add(str(busybox_binary(architecture or native_architecture())), arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        for directory in ("tmp", "etc", "root"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
    return target


def elf_architecture(header: bytes) -> str:
    """The Debian architecture an ELF executable is built for, read from its header (e_machine)."""
    if header[:4] != b"\x7fELF" or len(header) < 20:
        raise ValueError("not an ELF file")
    order = "<" if header[5] == 1 else ">"  # EI_DATA: 1 little-endian, 2 big-endian
    (machine,) = struct.unpack_from(order + "H", header, 18)
    names = {number: name for name, number in ELF_MACHINES.items()}
    return names.get(machine, f"e_machine {machine}")
