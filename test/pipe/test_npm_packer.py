"""The pipe's own npm packer ships exactly what `npm pack` ships, in npm's tarball shape; tarballs are
read without trusting them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from pipe.npm.glob import Rule, expand_braces
from pipe.npm.packlist import PackError, packlist
from pipe.npm.tarball import NPM_MTIME, pack_folder, read_tarball

NPM_ENV = {"npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}


def tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def npm_pack_files(folder: Path, cache: Path) -> list[str]:
    result = subprocess.run(["npm", "pack", "--dry-run", "--json", "--ignore-scripts", "--cache", str(cache)],
                            cwd=folder, capture_output=True, text=True, check=True,
                            env={**os.environ, **NPM_ENV})
    return sorted(entry["path"] for entry in json.loads(result.stdout)[0]["files"])


NOISE = {
    "node_modules/dep/index.js": "x", ".git/HEAD": "ref", ".npmrc": "//r/:_authToken=x", "package-lock.json": "{}",
    "yarn.lock": "", ".DS_Store": "", "lib/.DS_Store": "", "a.orig": "", ".foo.swp": "", "npm-debug.log": "",
    "README.md": "# r", "LICENSE": "l", "CHANGELOG.md": "c", "docs/README.md": "nested readme",
}

CASES = {
    "files-list": {
        "package.json": json.dumps({"name": "@acme/a", "version": "1.0.0", "main": "./lib/index.js",
                                    "bin": {"a": "bin/cli.js"}, "files": ["lib", "dist/**/*.js", "types/", "one.js"]}),
        "lib/index.js": "", "lib/sub/x.js": "", "lib/.npmrc": "", "test/t.js": "", "bin/cli.js": "",
        "dist/x/a.js": "", "dist/y/b.map": "", "dist/y/c.js": "", "types/a.d.ts": "", "one.js": "", "two.js": "",
        ".npmignore": "*.map\n", **NOISE,
    },
    "npmignore": {
        "package.json": json.dumps({"name": "b", "version": "0.1.0", "bin": "cli.js"}),
        ".npmignore": "# comment\ntest/\n/coverage\n*.log\n!keep.log\nsrc/**/*.spec.js\n",
        "cli.js": "", "index.js": "", "test/a.js": "", "lib/test/b.js": "", "coverage/c.json": "",
        "lib/coverage/d.json": "", "x.log": "", "keep.log": "", "src/a.js": "", "src/deep/a.spec.js": "",
        "src/deep/b.js": "", "lib/.npmignore": "secret.js\n", "lib/secret.js": "", "lib/ok.js": "",
        ".gitignore": "index.js\n", **NOISE,
    },
    "gitignore-fallback": {
        "package.json": json.dumps({"name": "c", "version": "2.0.0"}),
        ".gitignore": "build/\nnode_modules\n*.tmp\n/out\n",
        "build/b.js": "", "src/build/c.js": "", "a.tmp": "", "src/a.tmp": "", "out/o.js": "", "src/out/o.js": "",
        "index.js": "", "Licence.txt": "", "copying": "", **NOISE,
    },
    "files-with-negation-and-nested-file": {
        "package.json": json.dumps({"name": "@s/d", "version": "3.0.0-beta.1", "main": "main.js",
                                    "files": ["src/a/b.js", "src/c", "!src/c/private.js", "*.md"]}),
        "main.js": "", "src/a/b.js": "", "src/a/other.js": "", "src/c/x.js": "", "src/c/private.js": "",
        "src/c/.npmignore": "*.txt\n", "src/c/notes.txt": "", "guide.md": "", **NOISE,
    },
    "dot-slash-main-and-bin": {  # npm keeps "./cli.js" of bin but not "./main.js" of main: same here
        "package.json": json.dumps({"name": "m", "version": "1.0.0", "main": "./main.js", "bin": "./cli.js",
                                    "browser": "./b.js", "files": ["lib"]}),
        "lib/a.js": "", "main.js": "", "cli.js": "", "b.js": "", "other.js": "",
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_files_as_npm_pack(case: str, tmp_path: Path) -> None:
    folder = tree(tmp_path / case, CASES[case])
    assert sorted(packlist(folder)) == npm_pack_files(folder, tmp_path / "cache")


def test_tarball_has_npms_shape_and_is_deterministic(tmp_path: Path) -> None:
    folder = tree(tmp_path / "p", CASES["files-list"])
    (folder / "lib" / "run.sh").write_text("#!/bin/sh\n")
    (folder / "lib" / "run.sh").chmod(0o775)
    first, second = pack_folder(folder), pack_folder(folder)
    assert first.data == second.data
    assert first.filename == "acme-a-1.0.0.tgz"
    with tarfile.open(fileobj=io.BytesIO(first.data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert all(m.isfile() and m.name.startswith("package/") for m in members)
    assert all(m.mtime == NPM_MTIME and m.uid == 0 and m.uname == "" for m in members)
    modes = {m.name: m.mode for m in members}
    assert modes["package/lib/run.sh"] == 0o755 and modes["package/bin/cli.js"] == 0o755
    assert modes["package/lib/index.js"] == 0o644
    assert sorted(m.name.removeprefix("package/") for m in members) == sorted(first.files)
    assert first.integrity.startswith("sha512-") and len(first.shasum) == 40


def test_reads_npms_own_tarball(tmp_path: Path) -> None:
    folder = tree(tmp_path / "p", CASES["npmignore"])
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(["npm", "pack", "--json", "--ignore-scripts", "--pack-destination", str(out),
                             "--cache", str(tmp_path / "cache")], cwd=folder, capture_output=True, text=True,
                            check=True, env={**os.environ, **NPM_ENV})
    report = json.loads(result.stdout)[0]
    tarball = read_tarball(out / report["filename"])
    assert (tarball.name, tarball.version) == ("b", "0.1.0")
    assert tarball.integrity == report["integrity"] and tarball.shasum == report["shasum"]
    assert sorted(tarball.files) == sorted(f["path"] for f in report["files"])
    assert tarball.unpacked_size == report["unpackedSize"]


def _tgz(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    path.write_bytes(raw.getvalue())
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


@pytest.mark.parametrize(("members", "message"), [
    ([(_file("package/package.json"), b'{"name":"x","version":"1.0.0"}'), (_file("package/../evil"), b"x")],
     "escapes"),
    ([(_file("/etc/passwd"), b"x")], "escapes"),
    ([(_file("package/index.js"), b"x")], "no package/package.json"),
    ([(_file("package/package.json"), b"[1]")], "not a JSON object"),
    ([(_file("package/package.json"), b'{"name":"x"}')], "has no version"),
])
def test_hostile_tarballs_are_refused(tmp_path: Path, members: list, message: str) -> None:
    with pytest.raises(PackError, match=message):
        read_tarball(_tgz(tmp_path / "bad.tgz", members))


def test_links_and_garbage_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("package/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(PackError, match="not a regular file"):
        read_tarball(_tgz(tmp_path / "l.tgz", [(_file("package/package.json"), b'{"name":"x","version":"1.0.0"}'),
                                               (link, b"")]))
    (tmp_path / "g.tgz").write_bytes(b"not a tarball")
    with pytest.raises(PackError, match="not a gzipped tarball"):
        read_tarball(tmp_path / "g.tgz")


def test_folder_without_package_json(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="no package.json"):
        packlist(tree(tmp_path / "empty", {"index.js": ""}))


def test_glob_rules() -> None:
    assert expand_braces("/readme{,.*[^~$]}") == ["/readme", "/readme.*[^~$]"]
    readme = Rule.compile("!/readme{,.*[^~$]}")
    assert readme.negate and readme.match("/README.md") and readme.match("/readme")
    assert not readme.match("/readme.md~") and not readme.match("/docs/readme.md")
    assert Rule.compile("*.log").match("/a/b/x.log")  # no slash: matches the basename
    assert not Rule.compile("test/").match("/test") and Rule.compile("test/").match("test/")
    assert Rule.compile("src/**/*.spec.js").match("src/a/b/c.spec.js")
    assert Rule.compile("lib/x").match("lib", partial=True) and not Rule.compile("lib/x").match("lib")
