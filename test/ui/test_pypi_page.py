"""The PyPI project page: versions with yanked ones marked, files with sha256 and size, the README
from long_description rendered safely, install snippets that work with pip, and admins' yank and
delete forms (CSRF-protected; readers see none)."""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from test.registry.conftest import admin
from test.support.python_clients import twine_upload
from test.support.python_dists import make_sdist, make_wheel
from test.ui.conftest import UiWorld, csrf_of

README = """# Hello from PyPI

Some **bold** text and <script>alert("readme")</script> and [a link](javascript:alert(1)).
"""


@pytest.fixture(scope="module")
def project(ui_world: UiWorld, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("ui-pypi")
    admin(ui_world.server, "package", "create", f"{ui_world.workspace}/Greet.Lib", "--type", "pypi",
          "--repository", ui_world.repo("web"))
    email, token = ui_world.credentials["admin"]
    wheel = make_wheel(root, "greet-lib", "1.0", requires_python=">=3.9", description=README)
    files = [wheel, make_sdist(root, "greet-lib", "1.0"), make_wheel(root, "greet-lib", "1.1")]
    twine_upload(ui_world.server.url, ui_world.workspace, email, token, files)
    return f"/{ui_world.workspace}/web/packages/pypi/greet-lib", wheel


def test_pypi_page_over_http(ui_world: UiWorld, project: tuple[str, Path]) -> None:
    path, wheel = project
    page = ui_world.get("reader", path + "/-/versions/1.0")
    assert page.status_code == 200
    text = page.text
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() in text
    assert "&gt;=3.9" in text
    assert "<h1>Hello from PyPI</h1>" in text and "<strong>bold</strong>" in text
    assert "<script" not in text  # the author's raw HTML is left out
    assert 'href="javascript' not in text
    assert "pip install --index-url" in text and "greet-lib==1.0" in text
    assert re.search(r"<h2>\.pypirc</h2>\s*<pre", text) and f"/pypi/{ui_world.workspace}/" in html.unescape(text)
    assert "Yank this version" not in text  # readers manage nothing
    assert ui_world.get("outsider", path).status_code == 404


def test_admin_yanks_and_deletes_from_the_page(ui_world: UiWorld, project: tuple[str, Path]) -> None:
    path, _ = project
    session = ui_world.signed_in("admin")
    page = session.get(ui_world.url(path + "/-/versions/1.1"), timeout=30)
    assert "Yank this version" in page.text
    manage = ui_world.url(path + "/-/manage")
    forged = session.post(manage, data={"action": "yank", "version": "1.1"}, timeout=30)
    assert forged.status_code == 403  # no CSRF token: refused
    answer = session.post(manage, data={"action": "yank", "version": "1.1", "reason": "bad <b>build</b>",
                                        "csrf_token": csrf_of(page.text)}, timeout=30)
    assert answer.status_code == 200 and "yanked" in answer.text
    simple = ui_world.basic("reader").get(ui_world.url(f"/pypi/{ui_world.workspace}/simple/greet-lib/"), timeout=30)
    assert 'data-yanked="bad &lt;b&gt;build&lt;/b&gt;"' in simple.text
    reader = ui_world.signed_in("reader")
    refused = reader.post(manage, data={"action": "delete", "version": "1.1",
                                        "csrf_token": csrf_of(reader.get(ui_world.url(path), timeout=30).text)},
                          timeout=30)
    assert refused.status_code == 403
    page = session.get(ui_world.url(path + "/-/versions/1.1"), timeout=30)
    deleted = session.post(manage, data={"action": "delete", "version": "1.1", "csrf_token": csrf_of(page.text)},
                           timeout=30)
    assert deleted.status_code == 200
    listing = ui_world.basic("reader").get(ui_world.url(f"/pypi/{ui_world.workspace}/simple/greet-lib/"),
                                           headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30)
    assert listing.json()["versions"] == ["1.0"]


def test_pypi_page_in_the_browser(ui_world: UiWorld, project: tuple[str, Path], artifacts_dir: Path) -> None:
    path, _ = project
    shots = artifacts_dir / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    email, token = ui_world.credentials["reader"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(ui_world.url(path + "/-/versions/1.0"))
        page.fill("input[name=email]", email)
        page.fill("input[name=token]", token)
        page.click("button:has-text('Sign in')")
        expect(page.locator(".readme h1")).to_have_text("Hello from PyPI")
        expect(page.locator("table.files")).to_contain_text("greet_lib-1.0-py3-none-any.whl")
        page.screenshot(path=shots / "pypi-project.png", full_page=True)
        browser.close()
    assert dialogs == []
