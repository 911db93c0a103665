"""Which files of a package folder `npm pack` ships: npm-packlist's rules, for when npm is not on PATH.

A port of npm-packlist 10 (npm 11) on top of ignore-walk, directory by directory:
- rule sets, later ones winning: npm's defaults (``.git``, ``.npmrc``, ``node_modules/.bin``-style
  noise...), the ``files`` list of package.json (root only: ``*`` then each entry re-included),
  ``.npmignore`` (else ``.gitignore``; neither at a level where ``files`` applies), and the strict
  rules (always ``package.json``, ``README*``, ``LICENSE*``/``LICENCE*``, ``COPYING*``, ``main``,
  ``browser`` and ``bin`` files; never ``.git``, ``node_modules``, ``.npmrc``, lock files);
- a path is excluded when a directory above it is, unless that directory was entered for an
  explicitly required file;
- only regular files and directories are walked (symlinks are not followed, as npm does).
Bundled dependencies (``bundleDependencies``) and workspaces are not supported: with them, use npm.
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Any

from pipe.npm.glob import Rule

DEFAULT_RULES = "<defaults>"
STRICT_RULES = "<strict>"
PACKAGE_RULES = "package.json"

DEFAULTS = [
    ".npmignore", ".gitignore", "**/.git", "**/.svn", "**/.hg", "**/CVS", "**/.git/**", "**/.svn/**",
    "**/.hg/**", "**/CVS/**", "/.lock-wscript", "/.wafpickle-*", "/build/config.gypi", "npm-debug.log",
    "**/.npmrc", ".*.swp", ".DS_Store", "**/.DS_Store/**", "._*", "**/._*/**", "*.orig",
    "/archived-packages/**",
]
STRICT_DEFAULTS = ["/.git"]
ROOT_STRICT = [
    "!/package.json", "!/readme{,.*[^~$]}", "!/copying{,.*[^~$]}", "!/license{,.*[^~$]}",
    "!/licence{,.*[^~$]}", "/.git", "/node_modules", ".npmrc", "/package-lock.json", "/yarn.lock",
    "/pnpm-lock.yaml", "/bun.lockb",
]


class PackError(Exception):
    """The folder cannot be packed (no package.json, unreadable ignore file...)."""


def _compile(text: str) -> list[Rule]:
    lines = [line.strip() for line in text.split("\n")]
    return [Rule.compile(line) for line in lines if line and not line.startswith("#")]


def _normalize_bin(manifest: dict[str, Any]) -> list[str]:
    bin_field = manifest.get("bin")
    name = str(manifest.get("name") or "")
    if isinstance(bin_field, str):
        bin_field = {name.rsplit("/", 1)[-1]: bin_field}
    if not isinstance(bin_field, dict):
        return []
    return [_clean(str(path)) for path in bin_field.values() if isinstance(path, str) and path]


def _clean(path: str) -> str:
    """A package.json path as npm normalises it: forward slashes, no leading ./ or /."""
    cleaned = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    return "" if cleaned == "." else cleaned


class _Directory:
    def __init__(self, path: Path, parent: _Directory | None, is_package: bool, required: list[str],
                 exact: bool, manifest: dict[str, Any]) -> None:
        self.path = path
        self.parent = parent
        self.basename = path.name
        self.is_package = is_package
        self.required = list(required)
        self.exact = exact
        self.manifest = manifest
        self.ignore_files = ([DEFAULT_RULES, PACKAGE_RULES, ".npmignore", ".gitignore", STRICT_RULES] if is_package
                             else [DEFAULT_RULES, ".npmignore", ".gitignore", STRICT_RULES])
        self.rules: dict[str, list[Rule] | None] = {DEFAULT_RULES: _compile("\n".join(DEFAULTS))}
        if not is_package:
            self.rules[STRICT_RULES] = _compile("\n".join(STRICT_DEFAULTS + [f"!{f}" for f in self.required]))

    def walk(self, root: Path, result: set[str]) -> None:
        try:
            entries = sorted(os.listdir(self.path))
        except OSError as exc:
            raise PackError(f"cannot read {self.path}: {exc.strerror}") from None
        for entry in entries:
            if entry in self.ignore_files and (self.path / entry).is_file():
                if entry == PACKAGE_RULES:
                    self._process_package()
                else:
                    try:
                        self.rules[entry] = _compile((self.path / entry).read_text(encoding="utf-8", errors="replace"))
                    except OSError as exc:
                        raise PackError(f"cannot read {self.path / entry}: {exc.strerror}") from None
        if self.rules.get(PACKAGE_RULES):
            self.rules[".npmignore"] = None
            self.rules[".gitignore"] = None
        elif self.rules.get(".npmignore"):
            self.rules[".gitignore"] = None
        for entry in entries:
            as_file = self.filter_entry(entry)
            as_dir = self.filter_entry(entry, partial=True)
            if not (as_file or as_dir) or "*" in entry:
                continue
            full = self.path / entry
            mode = full.lstat().st_mode
            if _is_dir(mode):
                if as_dir:
                    exact = as_file or self.filter_entry(entry + "/")
                    required = [posixpath.relpath(f, entry) for f in self.required
                                if posixpath.relpath(entry, f) == ".."]
                    child = _Directory(full, self, False, required, exact, self.manifest)
                    child.walk(root, result)
            elif _is_file(mode) and as_file:
                result.add(full.relative_to(root).as_posix())

    def _process_package(self) -> None:
        manifest = self.manifest
        strict = list(STRICT_DEFAULTS) + ROOT_STRICT
        files = manifest.get("files")
        if isinstance(files, list):
            includes: list[str] = []
            for item in files:
                if not isinstance(item, str):
                    continue
                entry = item[1:] if item.startswith("./") else item
                if entry.endswith("/*"):
                    entry += "*"
                inverse = f"!{entry}"
                target = self.path / entry.lstrip("!").lstrip("/")
                try:
                    mode = target.lstat().st_mode
                except (OSError, ValueError):
                    includes.append(inverse)  # not a path: a pattern
                    continue
                if _is_file(mode):
                    strict.insert(0, inverse)
                    self.required.append(entry.removeprefix("/"))
                elif _is_dir(mode):
                    includes += [inverse, f"{inverse}/**"]
            self.rules[PACKAGE_RULES] = _compile("\n".join(["*", *includes]))
        for key in ("browser", "main"):
            if isinstance(manifest.get(key), str) and manifest[key]:
                strict.append(f"!/{manifest[key]}")
        strict += [f"!/{path}" for path in _normalize_bin(manifest)]
        self.rules[STRICT_RULES] = _compile("\n".join(strict))

    def filter_entry(self, entry: str, partial: bool = False, entry_basename: str | None = None) -> bool:
        included = True
        if self.parent is not None:
            included = self.parent.filter_entry(f"{self.basename}/{entry}", partial, entry_basename or entry)
            if not included and not self.exact:
                return False
        for name in self.ignore_files:
            for rule in self.rules.get(name) or []:
                if rule.negate == included:
                    continue
                if _matches(rule, entry, partial, entry_basename):
                    included = rule.negate
        return included


def _matches(rule: Rule, entry: str, partial: bool, basename: str | None) -> bool:
    if rule.match("/" + entry) or rule.match(entry):
        return True
    if not partial:
        return False
    if rule.match(f"/{entry}/") or rule.match(f"{entry}/"):
        return True
    if rule.negate and (rule.match("/" + entry, True) or rule.match(entry, True)):
        return True
    relative = bool(basename) and any(len(part) <= (1 if part[-1] else 2) for part in rule.glob_parts)
    if not relative:
        return False
    return bool(rule.match(f"/{basename}/") or rule.match(f"{basename}/")
                or rule.negate and (rule.match(f"/{basename}", True) or rule.match(str(basename), True)))


def _is_dir(mode: int) -> bool:
    import stat

    return stat.S_ISDIR(mode)


def _is_file(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "package.json"
    if not path.is_file():
        raise PackError(f"{folder} has no package.json")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PackError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise PackError(f"{path} is not a JSON object")
    return manifest


def sort_key(path: str) -> tuple[str, str, str]:
    """npm's order in the tarball (extension, then basename, then path): similar files sit together."""
    base = posixpath.basename(path)
    ext = posixpath.splitext(base)[1]
    return (ext.lower(), base.lower(), path)


def packlist(folder: Path) -> list[str]:
    """The paths (relative, with /) that `npm pack` would put in the tarball, in npm's order."""
    folder = folder.resolve()
    manifest = read_manifest(folder)
    if manifest.get("bundleDependencies") or manifest.get("bundledDependencies"):
        raise PackError("package.json has bundleDependencies: the pipe's own packer does not bundle "
                        "dependencies; pack it with npm and set NPM_PACKAGE to the .tgz")
    result: set[str] = set()
    _Directory(folder, None, True, [], False, manifest).walk(folder, result)
    return sorted(result, key=sort_key)
