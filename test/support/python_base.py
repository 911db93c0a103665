"""A small Python base image for the pipe's Dockerfile, made from this machine's Debian python3.

There is no Docker Hub here, so ``python:3.11-slim`` cannot be pulled. This makes a rootfs with
Debian's python3 (interpreter, stdlib, the shared libraries it and its extension modules load),
pip (copied from the test venv: pure Python), and busybox as /bin/sh for RUN steps, then
``docker import``s it. The tar is cached in the temp dir, keyed by a hash of what went in, so it is
made once per machine; the import takes a second or two per test session.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
BUSYBOX = Path("/bin/busybox")
SKIP_DIRS = {"test", "tests", "idlelib", "tkinter", "turtledemo", "__pycache__", "lib2to3", "ensurepip",
             "config-3.11-x86_64-linux-gnu", "pydoc_data"}
APPLETS = ("sh", "ls", "cat", "echo", "env", "mkdir", "rm", "cp", "mv", "true", "test", "id", "chmod", "ln")
VERSION = "4"  # bump when the recipe changes
# Libraries python:3.11-slim has and the pipe's wheels load: glibc's compatibility stubs, which wheels built
# for an older glibc link to (charset_normalizer: libpthread), and libgcc_s (cryptography's Rust code).
BASE_LIBRARIES = [f"/lib/x86_64-linux-gnu/{name}" for name in ("libpthread.so.0", "libdl.so.2", "librt.so.1",
                                                                "libutil.so.1", "libm.so.6", "libgcc_s.so.1")]


def _shared_libraries(binaries: list[Path]) -> set[str]:
    libs: set[str] = set()
    for chunk in range(0, len(binaries), 50):
        result = subprocess.run(["ldd", *map(str, binaries[chunk:chunk + 50])], capture_output=True, text=True,
                                check=False)
        for match in re.finditer(r"(?:=>\s*)?(/\S+\.so[^\s]*)\s+\(0x", result.stdout):
            libs.add(match.group(1))
    return libs


def _pip_dir() -> Path:
    import pip

    return Path(pip.__file__).parent


def _inputs_hash() -> str:
    h = hashlib.sha256(VERSION.encode())
    for path in (PYTHON, BUSYBOX, _pip_dir() / "__init__.py"):
        stat = path.stat()
        h.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def rootfs_tar() -> Path:
    if not PYTHON.exists():
        raise RuntimeError(f"{PYTHON} is missing: the pipe image test needs Debian's python3 (apt-get install python3)")
    target = Path(tempfile.gettempdir()) / f"pipe-test-python-base-{_inputs_hash()}.tar"
    if target.exists():
        return target
    partial = target.with_suffix(f".{os.getpid()}.partial")
    with tarfile.open(partial, "w") as tar:
        def directory(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def symlink(name: str, target_name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target_name
            tar.addfile(info)

        for name in ("usr", "usr/bin", "usr/lib", "usr/lib64", "usr/local", "usr/local/bin", "usr/local/lib",
                     "etc", "root", "home", "var", "usr/lib/python3", "usr/lib/python3/dist-packages"):
            directory(name)
        directory("tmp", 0o1777)
        symlink("bin", "usr/bin")
        symlink("lib", "usr/lib")
        symlink("lib64", "usr/lib64")
        tar.add(str(PYTHON), "usr/bin/python3.11")
        symlink("usr/bin/python3", "python3.11")
        symlink("usr/bin/python", "python3.11")
        tar.add(str(BUSYBOX), "usr/bin/busybox")
        for applet in APPLETS:
            symlink(f"usr/bin/{applet}", "busybox")
        extensions = []
        for root, dirs, files in os.walk(STDLIB):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("config-")]
            for file in files:
                path = Path(root) / file
                # EXTERNALLY-MANAGED: Debian's PEP 668 marker; python:3.11-slim has none, pip installs there.
                if path.name in ("sitecustomize.py", "EXTERNALLY-MANAGED") or path.is_symlink() and not path.exists():
                    continue
                tar.add(str(path), "usr/lib/python3.11/" + str(path.relative_to(STDLIB)), recursive=False)
                if file.endswith(".so"):
                    extensions.append(path)
        for root, dirs, files in os.walk(_pip_dir()):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for file in files:
                path = Path(root) / file
                tar.add(str(path), "usr/lib/python3/dist-packages/" + str(path.relative_to(_pip_dir().parent)),
                        recursive=False)
        for lib in sorted(_shared_libraries([PYTHON, *extensions]) | {p for p in BASE_LIBRARIES if Path(p).exists()}):
            tar.add(os.path.realpath(lib), lib.lstrip("/").replace("lib/", "usr/lib/", 1)
                    if lib.startswith("/lib/") else lib.lstrip("/").replace("lib64/", "usr/lib64/", 1)
                    if lib.startswith("/lib64/") else lib.lstrip("/"))
        certificates = Path("/etc/ssl/certs/ca-certificates.crt")
        if certificates.exists():
            tar.add(str(certificates), "etc/ssl/certs/ca-certificates.crt")
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            import io

            tar.addfile(info, io.BytesIO(data))
    os.replace(partial, target)
    return target


def import_base(docker: object, tag: str = "pipe-test-python:3.11") -> str:
    """docker import the rootfs into the engine behind ``docker`` (a test.support Dockerd)."""
    tar = rootfs_tar()
    docker.docker("import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin",  # type: ignore[attr-defined]
                  "--change", 'CMD ["python3"]', str(tar), tag)
    return tag


if __name__ == "__main__":
    print(rootfs_tar(), file=sys.stderr)
