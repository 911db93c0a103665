"""npm packages end to end: the pipe publishes to the bundled registry, the npm CLI installs what arrived."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from test.pipe.conftest import lists
from test.support.processes import free_port
from test.support.registry_server import RegistryServer

NPM_ENV = {"npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}
SHIPPED = ["LICENSE", "README.md", "lib/index.js", "lib/util.js", "package.json"]


@dataclass
class NpmWorld:
    registry: RegistryServer
    workspace: str
    scope: str
    username: str
    token: str

    @property
    def env(self) -> dict[str, str]:
        return {"REGISTRY": self.registry.url, "BITBUCKET_PACKAGES_USERNAME": self.username,
                "BITBUCKET_PACKAGES_TOKEN": self.token, "BITBUCKET_WORKSPACE": self.workspace,
                "BITBUCKET_REPO_SLUG": "code", "BITBUCKET_REPO_FULL_NAME": f"{self.workspace}/code",
                "PACKAGE_TYPE": "npm"}

    @property
    def npm_url(self) -> str:
        return f"{self.registry.url}/npm/{self.workspace}/"

    def create(self, name: str) -> str:
        full = f"{self.scope}/{name}"
        self.registry.package(f"{self.workspace}/{full}", f"{self.workspace}/code", "npm")
        return full

    def packument(self, name: str) -> dict:
        response = requests.get(self.npm_url + name.replace("/", "%2f"), auth=(self.username, self.token), timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def tarball_files(self, name: str, version: str) -> list[str]:
        url = self.packument(name)["versions"][version]["dist"]["tarball"]
        data = requests.get(url, auth=(self.username, self.token), timeout=30).content
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            return sorted(m.name.removeprefix("package/") for m in tar.getmembers() if m.isfile())


@pytest.fixture
def npm_world(registry: RegistryServer, unique: str) -> NpmWorld:
    workspace = f"n{unique}"
    registry.ensure_repository(f"{workspace}/code")
    username, token = registry.pipeline_token(f"{workspace}/code")
    return NpmWorld(registry, workspace, f"@{workspace}", username, token)


def package_folder(root: Path, name: str, version: str) -> Path:
    root.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"name": name, "version": version, "main": "lib/index.js",
                                                   "description": "made by the pipe tests", "files": ["lib"]}))
    (root / "lib").mkdir()
    (root / "lib" / "index.js").write_text("module.exports = () => require('./util').greeting;\n")
    (root / "lib" / "util.js").write_text(f"exports.greeting = 'hello from {version}';\n")
    (root / "README.md").write_text("# readme\n")
    (root / "LICENSE").write_text("MIT\n")
    for noise in ("test/index.test.js", ".npmrc", "src/index.ts", "notes.txt", "node_modules/x/index.js"):
        (root / noise).parent.mkdir(parents=True, exist_ok=True)
        (root / noise).write_text("not shipped\n")
    return root


def npm_pack(folder: Path, destination: Path) -> Path:
    destination.mkdir(exist_ok=True)
    result = subprocess.run(["npm", "pack", "--json", "--pack-destination", str(destination), "--cache",
                             str(destination / ".cache")], cwd=folder, capture_output=True, text=True, check=True,
                            env={**os.environ, **NPM_ENV})
    return destination / json.loads(result.stdout)[0]["filename"]


def test_publish_folder_ships_only_the_packed_files(npm_world: NpmWorld, run_pipe, tmp_path: Path) -> None:
    name = npm_world.create("folder")
    folder = package_folder(tmp_path / "pkg", name, "1.0.0")
    run = run_pipe({**npm_world.env, "NPM_PACKAGE": str(folder), "DIST_TAG": "next",
                    "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared")})
    run.assert_ok()
    assert "with npm pack" in run.output
    packument = npm_world.packument(name)
    dist = packument["versions"]["1.0.0"]["dist"]
    assert packument["dist-tags"]["next"] == "1.0.0"
    assert f"Published {name}@1.0.0" in run.output and dist["integrity"] in run.output
    assert f"{len(SHIPPED)} files" in run.output and f"npm install {name}@1.0.0" in run.output
    assert npm_world.tarball_files(name, "1.0.0") == SHIPPED
    result = json.loads((tmp_path / "shared" / "packages-pipe" / "latest.json").read_text())
    assert (result["packageType"], result["fileCount"], result["integrity"]) == ("npm", 5, dist["integrity"])


def test_publish_folder_with_the_pipes_own_packer(npm_world: NpmWorld, run_pipe, tmp_path: Path) -> None:
    name = npm_world.create("own")
    folder = package_folder(tmp_path / "pkg", name, "2.0.0")
    run = run_pipe({**npm_world.env, "NPM_PACKAGE": str(folder), "PATH": str(tmp_path / "no-npm-here")})
    run.assert_ok()
    assert "pipe's own packer" in run.output
    assert npm_world.tarball_files(name, "2.0.0") == SHIPPED
    assert npm_world.packument(name)["dist-tags"]["latest"] == "2.0.0"


def test_publish_tgz_then_the_same_version_again(npm_world: NpmWorld, run_pipe, tmp_path: Path) -> None:
    name = npm_world.create("tgz")
    tgz = npm_pack(package_folder(tmp_path / "pkg", name, "1.2.3"), tmp_path / "out")
    env = {**npm_world.env, "NPM_PACKAGE": str(tgz), "PATH": str(tmp_path / "no-npm-here")}
    run_pipe(env).assert_ok()
    assert npm_world.tarball_files(name, "1.2.3") == SHIPPED

    again = run_pipe(env)
    again.assert_failed(f"{name}@1.2.3 is already published", "SKIP_EXISTING")
    skipped = run_pipe({**env, "SKIP_EXISTING": "true"})
    skipped.assert_ok()
    assert "already published" in skipped.stdout


def test_configure_then_npm_install(npm_world: NpmWorld, run_pipe, tmp_path: Path) -> None:
    name = npm_world.create("installed")
    run_pipe({**npm_world.env, "NPM_PACKAGE": str(package_folder(tmp_path / "pkg", name, "3.1.0"))}).assert_ok()

    project = tmp_path / "consumer"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    run = run_pipe({**npm_world.env, "ACTION": "configure", "BITBUCKET_CLONE_DIR": str(project),
                    **lists("CONFIGURE", ["npm"])}, cwd=project)
    run.assert_ok()
    assert base64.b64encode(npm_world.token.encode()).decode() not in run.output
    assert f"{npm_world.scope} packages from {npm_world.npm_url}" in run.output
    assert "/.npmrc" in (project / ".git" / "info" / "exclude").read_text()
    assert (project / ".npmrc").stat().st_mode & 0o077 == 0

    empty = tmp_path / "empty-userconfig"
    empty.write_text("")
    subprocess.run(["npm", "install", f"{name}@3.1.0", "--userconfig", str(empty), "--cache", str(tmp_path / "cache")],
                   cwd=project, check=True, capture_output=True, text=True, env={**os.environ, **NPM_ENV})
    output = subprocess.run(["node", "-e", f"console.log(require('{name}')())"], cwd=project, check=True,
                            capture_output=True, text=True).stdout
    assert output.strip() == "hello from 3.1.0"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True,
                            check=True).stdout
    assert ".npmrc" not in status


def test_package_not_created_and_wrong_token(npm_world: NpmWorld, run_pipe, tmp_path: Path) -> None:
    folder = package_folder(tmp_path / "pkg", f"{npm_world.scope}/never-created", "1.0.0")
    env = {**npm_world.env, "NPM_PACKAGE": str(folder), "PATH": str(tmp_path / "no-npm-here")}
    run_pipe(env).assert_failed("does not exist", f"packages-registry package create {npm_world.workspace}/"
                                f"{npm_world.scope}/never-created --type npm")
    run_pipe({**env, "BITBUCKET_PACKAGES_TOKEN": "bbpipe_notavalidtoken0123456789abcdef"}).assert_failed(
        "refused the credentials")
    run_pipe({**env, "DIST_TAG": "1.0.0"}).assert_failed("DIST_TAG", "looks like a version")
    down = run_pipe({**env, "NPM_REGISTRY": f"http://127.0.0.1:{free_port()}/npm/x/"})
    down.assert_failed("is unreachable", "NPM_REGISTRY")
    assert down.output.count("retrying in") >= 2
