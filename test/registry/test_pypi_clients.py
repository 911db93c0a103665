"""Real Python clients against the PyPI index: twine, uv publish, pip and uv pip install from fresh
venvs (resolving with the core metadata files, never downloading a wheel to learn its
dependencies), yanked versions, and Poetry publishing to it and installing from it."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from test.registry.conftest import admin
from test.support.python_clients import fresh_venv, index_url, run, tool, twine_upload, uv
from test.support.python_dists import make_sdist, make_wheel
from test.support.registry_server import READ, WRITE, RegistryServer


@dataclass
class PypiWorld:
    server: RegistryServer
    workspace: str
    email: str
    token: str
    dists: Path

    @property
    def upload_url(self) -> str:
        return f"{self.server.url}/pypi/{self.workspace}/"

    def simple(self, project: str, accept: str | None = None) -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        return requests.get(f"{self.server.url}/pypi/{self.workspace}/simple/{project}/", headers=headers,
                            auth=(self.email, self.token), timeout=30)

    def index_url(self) -> str:
        return index_url(self.server.url, self.workspace, self.email, self.token)

    def create(self, project: str) -> None:
        admin(self.server, "package", "create", f"{self.workspace}/{project}", "--type", "pypi",
              "--repository", f"{self.workspace}/code")


@pytest.fixture(scope="module")
def pw(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiWorld]:
    workspace = f"py{uuid.uuid4().hex[:8]}"
    admin(registry, "workspace", "create", workspace)
    admin(registry, "repository", "create", f"{workspace}/code")
    email = f"dev@{workspace}.example.com"
    admin(registry, "user", "create", email)
    admin(registry, "grant", email, f"{workspace}/code", "admin")
    token = admin(registry, "token", "create", email, "--scope", READ, "--scope", WRITE)
    dists = tmp_path_factory.mktemp("dists")
    yield PypiWorld(registry, workspace, email, token, dists)


def test_twine_uploads_a_wheel_and_an_sdist_and_skip_existing_skips(pw: PypiWorld) -> None:
    pw.create("Hello_Twine")  # stored in the normal form
    wheel = make_wheel(pw.dists, "hello-twine", "1.0", requires_python=">=3.8", description="# Hello\n")
    sdist = make_sdist(pw.dists, "hello-twine", "1.0")
    twine_upload(pw.server.url, pw.workspace, pw.email, pw.token, [wheel, sdist])

    page = pw.simple("hello-twine")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for path in (wheel, sdist):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"{path.name}#sha256={sha}" in page.text
    assert 'data-requires-python="&gt;=3.8"' in page.text
    assert "data-core-metadata=" in page.text  # the wheel's METADATA, served beside it

    again = twine_upload(pw.server.url, pw.workspace, pw.email, pw.token, [wheel], check=False)
    assert again.returncode != 0 and "File already exists" in again.stdout + again.stderr
    skipped = twine_upload(pw.server.url, pw.workspace, pw.email, pw.token, [wheel, sdist], "--skip-existing")
    assert "already exist" in skipped.stdout + skipped.stderr

    # PEP 503: any spelling of the name redirects to the normal form.
    odd = requests.get(f"{pw.server.url}/pypi/{pw.workspace}/simple/Hello.Twine/", auth=(pw.email, pw.token),
                       allow_redirects=False, timeout=30)
    assert odd.status_code == 301 and odd.headers["Location"].endswith("/simple/hello-twine/")


def test_core_metadata_kept_in_the_row_and_as_an_older_release_kept_it(pw: PypiWorld) -> None:
    """A wheel's core metadata file, kept in its file's row, is served byte for byte under the digest the
    pages declare; one uploaded by an older release, whose metadata is a blob of its own (the row without
    the bytes), is served just the same."""
    pw.create("kept-meta")
    wheel = make_wheel(pw.dists, "kept-meta", "1.0", description="# Kept\n")
    twine_upload(pw.server.url, pw.workspace, pw.email, pw.token, [wheel])
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("kept_meta-1.0.dist-info/METADATA")
    sha = hashlib.sha256(metadata).hexdigest()
    assert f'data-core-metadata="sha256={sha}"' in pw.simple("kept-meta").text
    url = f"{pw.server.url}/pypi/{pw.workspace}/files/kept-meta/{wheel.name}.metadata"

    def served() -> requests.Response:
        answer = requests.get(url, auth=(pw.email, pw.token), timeout=30)
        assert answer.status_code == 200 and answer.headers["ETag"] == f'"{sha}"'
        return answer

    assert served().content == metadata
    with sqlite3.connect(pw.server.data / "metadata.db") as conn:  # as an older release kept it: in a blob
        conn.execute("UPDATE pypi_files SET metadata_file = NULL WHERE filename = ?", (wheel.name,))
    assert requests.get(url, auth=(pw.email, pw.token), timeout=30).status_code == 404  # no blob yet
    blob = pw.server.data / "blobs" / "sha256" / sha[:2] / sha
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(metadata)
    assert served().content == metadata


def test_pip_resolves_from_core_metadata_and_installs_in_a_fresh_venv(pw: PypiWorld, tmp_path: Path) -> None:
    """pip backtracks from app 2.0 (which needs a lib that does not exist) to app 1.0 using the .metadata
    files alone: the 2.0 wheel is never downloaded."""
    for project in ("meta-app", "meta-lib"):
        pw.create(project)
    files = [make_wheel(pw.dists, "meta-lib", "1.0"),
             make_wheel(pw.dists, "meta-app", "1.0", requires=("meta-lib>=1.0",)),
             make_wheel(pw.dists, "meta-app", "2.0", requires=("meta-lib>=9",))]
    twine_upload(pw.server.url, pw.workspace, pw.email, pw.token, files)

    python = fresh_venv(tmp_path / "venv")
    result = run([str(python), "-m", "pip", "install", "-v", "--no-cache-dir", "--index-url", pw.index_url(),
                  "meta-app"])
    log = result.stdout + result.stderr
    assert re.search(r"Obtaining dependency information for meta-app.* from .*meta_app-2\.0-py3-none-any\.whl"
                     r"\.metadata", log), log[-3000:]
    assert re.search(r"meta_app-2\.0-py3-none-any\.whl\.metadata", log)
    assert not re.search(r"Downloading \S*meta_app-2\.0-py3-none-any\.whl\s", log), log[-3000:]
    assert "Successfully installed meta-app-1.0 meta-lib-1.0" in log
    shown = run([str(python), "-c", "import meta_app, meta_lib; print(meta_app.VERSION, meta_lib.VERSION)"])
    assert shown.stdout.split() == ["1.0", "1.0"]


def test_uv_publish_and_uv_pip_install(pw: PypiWorld, tmp_path: Path) -> None:
    pw.create("uv-thing")
    wheel = make_wheel(pw.dists, "uv-thing", "0.3.1")
    # uv publish with a token as the password of __token__, as for PyPI.
    uv("publish", "--publish-url", pw.upload_url, "-u", "__token__", "-p", pw.token, str(wheel), cwd=tmp_path)
    venv = tmp_path / "venv"
    uv("venv", "-q", str(venv))
    uv("pip", "install", "--index-url", pw.index_url(), "uv-thing", env={"VIRTUAL_ENV": str(venv)})
    shown = run([str(venv / "bin" / "python"), "-c", "import uv_thing; print(uv_thing.VERSION)"])
    assert shown.stdout.strip() == "0.3.1"
    listing = pw.simple("uv-thing", "application/vnd.pypi.simple.v1+json").json()
    assert listing["versions"] == ["0.3.1"] and listing["files"][0]["size"] == wheel.stat().st_size


def test_yanked_version_is_not_chosen_unless_pinned(pw: PypiWorld, tmp_path: Path) -> None:
    pw.create("yanky")
    twine_upload(pw.server.url, pw.workspace, pw.email, pw.token,
                 [make_wheel(pw.dists, "yanky", "1.0"), make_wheel(pw.dists, "yanky", "1.1")])
    admin(pw.server, "pypi", "yank", f"{pw.workspace}/yanky", "1.1", "--reason", "broken build")
    files = {f["filename"]: f for f in pw.simple("yanky", "application/vnd.pypi.simple.v1+json").json()["files"]}
    assert files["yanky-1.1-py3-none-any.whl"]["yanked"] == "broken build"
    assert files["yanky-1.0-py3-none-any.whl"]["yanked"] is False
    assert 'data-yanked="broken build"' in pw.simple("yanky").text

    python = fresh_venv(tmp_path / "venv")
    run([str(python), "-m", "pip", "install", "-q", "--index-url", pw.index_url(), "yanky"])
    assert run([str(python), "-c", "import yanky; print(yanky.VERSION)"]).stdout.strip() == "1.0"
    pinned = run([str(python), "-m", "pip", "install", "--index-url", pw.index_url(), "yanky==1.1"])
    assert "broken build" in pinned.stdout + pinned.stderr  # pip warns with the reason

    admin(pw.server, "pypi", "unyank", f"{pw.workspace}/yanky", "1.1")
    assert "data-yanked" not in pw.simple("yanky").text


def test_json_api_as_warehouse_serves_it(pw: PypiWorld) -> None:
    pw.create("jsonic")
    twine_upload(pw.server.url, pw.workspace, pw.email, pw.token,
                 [make_wheel(pw.dists, "jsonic", "1.0", requires_python=">=3.9", requires=("requests>=2",)),
                  make_wheel(pw.dists, "jsonic", "2.0rc1")])
    base = f"{pw.server.url}/pypi/{pw.workspace}/pypi/jsonic"
    document = requests.get(f"{base}/json", auth=(pw.email, pw.token), timeout=30).json()
    assert document["info"]["version"] == "1.0"  # the latest release, not the pre-release
    assert document["info"]["requires_dist"] == ["requests>=2"]
    assert document["info"]["requires_python"] == ">=3.9"
    assert sorted(document["releases"]) == ["1.0", "2.0rc1"]
    (url,) = document["urls"]
    assert url["packagetype"] == "bdist_wheel" and len(url["digests"]["sha256"]) == 64
    downloaded = requests.get(url["url"], auth=(pw.email, pw.token), timeout=30)
    assert hashlib.sha256(downloaded.content).hexdigest() == url["digests"]["sha256"]
    one = requests.get(f"{base}/2.0rc1/json", auth=(pw.email, pw.token), timeout=30).json()
    assert one["info"]["version"] == "2.0rc1" and "releases" not in one
    assert requests.get(f"{base}/9.9/json", auth=(pw.email, pw.token), timeout=30).status_code == 404


def test_poetry_publishes_and_a_project_installs_from_the_index(pw: PypiWorld, tmp_path: Path) -> None:
    pw.create("poetic-lib")
    library = tmp_path / "lib"
    (library / "poetic_lib").mkdir(parents=True)
    (library / "poetic_lib" / "__init__.py").write_text("VALUE = 42\n")
    (library / "pyproject.toml").write_text(
        '[project]\nname = "poetic-lib"\nversion = "0.1.0"\ndescription = "lib"\nrequires-python = ">=3.9"\n'
        'authors = [{name = "dev"}]\n\n[build-system]\nrequires = ["poetry-core>=2"]\n'
        'build-backend = "poetry.core.masonry.api"\n')
    env = {"POETRY_CONFIG_DIR": str(tmp_path / "poetry-config"), "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"),
           "POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_REPOSITORIES_OURS_URL": pw.upload_url,
           "POETRY_HTTP_BASIC_OURS_USERNAME": pw.email, "POETRY_HTTP_BASIC_OURS_PASSWORD": pw.token}
    poetry = tool("poetry")
    run([poetry, "build", "-q"], cwd=library, env=env)
    run([poetry, "publish", "-r", "ours"], cwd=library, env=env)

    app = tmp_path / "app"
    app.mkdir()
    (app / "pyproject.toml").write_text(
        '[project]\nname = "poetic-app"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["poetic-lib>=0.1"]\n\n[tool.poetry]\npackage-mode = false\n\n'
        f'[[tool.poetry.source]]\nname = "ours"\nurl = "{pw.server.url}/pypi/{pw.workspace}/simple/"\n'
        'priority = "primary"\n')
    run([poetry, "install", "--no-interaction"], cwd=app, env=env)
    shown = run([str(app / ".venv" / "bin" / "python"), "-c", "import poetic_lib; print(poetic_lib.VALUE)"])
    assert shown.stdout.strip() == "42"
