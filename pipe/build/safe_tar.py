"""Tar members checked before anything is written: no absolute paths, no ``..``, no links out."""

from __future__ import annotations

import posixpath
import tarfile

from pipe.build.errors import UnsafeArchive


def member_path(name: str) -> str:
    """The member's normalised relative path; raises UnsafeArchive when it would escape."""
    if "\x00" in name:
        raise UnsafeArchive(f"archive member name {name!r} contains a NUL byte")
    if name.startswith(("/", "\\")):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path")
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../") or "/../" in f"/{normal}/":
        raise UnsafeArchive(f"archive member {name!r} points outside the archive")
    return "" if normal == "." else normal


def link_target(member: tarfile.TarInfo) -> str:
    """The archive path a symlink or hard link member points at; raises when it points outside."""
    path = member_path(member.name)
    if member.issym():
        if member.linkname.startswith("/"):
            raise UnsafeArchive(f"archive member {member.name!r} links to an absolute path")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
    else:
        target = posixpath.normpath(member.linkname)
    if target == ".." or target.startswith(("../", "/")):
        raise UnsafeArchive(f"archive member {member.name!r} links outside the archive")
    return target
