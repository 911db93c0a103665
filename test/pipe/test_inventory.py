"""What the SBOM finds in layers besides Debian's dpkg database (test_supply_chain.py checks that one
against dpkg-query): Alpine's apk database, egg-info, a jar known only by its MANIFEST.MF, and files
a later layer deleted (whiteouts), which the image no longer contains."""

from __future__ import annotations

import io
import tarfile
import zipfile

from pipe.supply.inventory import Found, collect_files, inventory

APK_INSTALLED = b"""C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
T:the musl c library

C:Q1def=
P:busybox
V:1.36.1-r15
A:x86_64
"""


def _layer(files: dict[str, bytes]) -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    data.seek(0)
    return data


def _jar_with_manifest_only() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nImplementation-Title: netty-buffer\n"
                                                 "Implementation-Version: 4.1.100\n")
    return data.getvalue()


def test_alpine_egg_info_manifest_jars_and_whiteouts() -> None:
    base = _layer({
        "etc/os-release": b'NAME="Alpine Linux"\nID=alpine\n',
        "lib/apk/db/installed": APK_INSTALLED,
        "usr/lib/python3.12/site-packages/six-1.16.0.egg-info/PKG-INFO": b"Name: six\nVersion: 1.16.0\n",
        "srv/lib/netty-buffer.jar": _jar_with_manifest_only(),
        "srv/node_modules/gone/package.json": b'{"name": "gone", "version": "1.0.0"}',
    })
    later = _layer({"srv/node_modules/.wh.gone": b""})  # removed by a later RUN rm -rf

    found = inventory(collect_files([base, later]))

    assert found == sorted([
        Found("apk", "musl", "1.2.4-r2", "alpine", "x86_64"),
        Found("apk", "busybox", "1.36.1-r15", "alpine", "x86_64"),
        Found("pypi", "six", "1.16.0", path="usr/lib/python3.12/site-packages/six-1.16.0.egg-info/PKG-INFO"),
        Found("maven", "netty-buffer", "4.1.100", path="srv/lib/netty-buffer.jar"),
    ])
