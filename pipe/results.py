"""Result files: what each pipe call did, as JSON for later commands and steps of the pipeline.

Under ``$BITBUCKET_PIPE_SHARED_STORAGE_DIR/packages-pipe/`` every call writes a file named after its
action and package (``container-<image>.json``, ``npm-<name>.json``, ``maven-<group>-<artifact>.json``,
``pypi-<name>.json``, ``configure.json``), so that several calls in one step keep their own, and the same document as
``latest.json``. A failed call writes ``{"status": "failed", "error": ...}`` to the same names, so an
older file of a successful call is never taken for this call's result. README documents the schema.

Writing a result is never what fails a step: the caller turns an ``OSError`` into a warning.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULT_DIR = "packages-pipe"
LATEST = "latest.json"


def file_name(action: str, package_type: str, package: str | None) -> str:
    """``container-website.json``: the action (or package type) and the package, in safe characters."""
    if action == "configure":
        return "configure.json"
    if not package:
        return f"{package_type or 'result'}.json"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", package.replace(":", "-").lstrip("@")).strip("-.") or "package"
    kind = action if action in ("merge", "copy") else package_type  # container-app.json, merge-app.json
    return f"{kind}-{slug}.json"


def package_of(document: Mapping[str, Any]) -> str | None:
    """The package a result document names (the same for success and failure documents)."""
    if document.get("packageType") == "maven" and document.get("groupId") and document.get("artifactId"):
        return f"{document['groupId']}-{document['artifactId']}"
    name = document.get("name")
    if document.get("packageType") == "container" and isinstance(name, str) and "/" in name:
        return name.split("/", 1)[1]  # the image, without its workspace
    return name if isinstance(name, str) else None


def write(directory: Path, document: dict[str, Any]) -> list[Path]:
    """Write the call's file and ``latest.json``; returns both paths. Raises OSError."""
    target = directory / RESULT_DIR
    target.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2) + "\n"
    names = dict.fromkeys([file_name(document.get("action", "publish"), document.get("packageType", ""),
                                     package_of(document)), LATEST])
    return [_write_atomically(target / name, text) for name in names]


def _write_atomically(path: Path, text: str) -> Path:
    # A later step reading the file never sees half of it, nor this call's half over a previous one.
    import tempfile

    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def success(action: str, package_type: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": "success", "action": action, "packageType": package_type, **fields}


def failure(action: str, package_type: str, identity: Mapping[str, Any], error: str) -> dict[str, Any]:
    """What a failed call leaves: its package as far as it is known, and the message the log shows."""
    return {"status": "failed", "action": action, "packageType": package_type, **identity, "error": error}


def identify(variables: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The package a call is about, as far as it can be told without doing the call: what a failure
    result names, so that it lands in the same file as that package's successful results."""
    from pipe.maven.pom import PomError, read_pom
    from pipe.npm.packlist import PackError, read_manifest

    package_type = variables.get("PACKAGE_TYPE") or "container"
    if variables.get("ACTION") == "configure":
        return {}
    if package_type == "container":
        workspace = variables.get("WORKSPACE") or env.get("BITBUCKET_WORKSPACE")
        image = variables.get("IMAGE_NAME") or env.get("BITBUCKET_REPO_SLUG")
        return {"name": f"{workspace}/{image}"} if workspace and image else {}
    if package_type == "npm":
        folder = Path(variables.get("NPM_PACKAGE") or ".")
        try:
            name = read_manifest(folder).get("name") if folder.is_dir() else None
        except (PackError, OSError):
            name = None
        return {"name": name} if isinstance(name, str) and name else {}
    if package_type == "maven" and not variables.get("MAVEN_COMMAND"):
        try:
            coordinates = read_pom(Path(variables.get("MAVEN_POM") or "pom.xml"))
        except (PomError, OSError):
            return {}
        return {"groupId": coordinates.group_id, "artifactId": coordinates.artifact_id,
                "version": coordinates.version}
    if package_type == "pypi":
        from pipe.actions.pypi import dist_patterns
        from pipe.pypi.dists import find, project_name

        found = find(dist_patterns(variables), Path("."))
        name = project_name(found[0]) if found else None  # the first file's, as a success result names it
        return {"name": name} if name else {}
    return {}
