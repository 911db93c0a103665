"""The pages in a real browser: Debian's chromium driven by Playwright (never a downloaded browser).

Signs in, visits every page, creates a package with the form, creates and revokes an API token, and
keeps a screenshot of each page in test-artifacts/ui/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from test.support.oci_client import OciClient, image
from test.support.registry_server import READ
from test.ui.conftest import UiWorld

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def shots(artifacts_dir: Path) -> Path:
    path = artifacts_dir / "ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert dialogs == [], f"a script ran: {dialogs}"


def sign_in(page: Page, world: UiWorld, user: str, shots: Path | None = None) -> None:
    page.goto(world.url("/"))
    expect(page).to_have_url(world.url("/signin"))
    if shots:
        page.screenshot(path=shots / "signin.png", full_page=True)
    email, token = world.credentials[user]
    page.fill("input[name=email]", email)
    page.fill("input[name=token]", token)
    page.click("button:has-text('Sign in')")
    expect(page.locator("h1")).to_have_text("Your packages")


def test_browse_every_page(page: Page, ui_world: UiWorld, shots: Path) -> None:
    ws = ui_world.workspace
    sign_in(page, ui_world, "admin", shots)
    expect(page.locator(".card h2 a", has_text=ws)).to_be_visible()
    page.screenshot(path=shots / "home.png", full_page=True)

    page.click(f".card h2 a:has-text('{ws}')")
    expect(page).to_have_url(ui_world.url(f"/{ws}/workspace/packages"))
    expect(page.locator("table.list tbody tr")).to_have_count(25)
    expect(page.locator("header .crumbs")).to_contain_text(ws)
    page.screenshot(path=shots / "workspace-packages.png", full_page=True)

    page.click("a[rel=next]")
    expect(page.locator("table.list tbody tr").last).to_contain_text("tools/cli")  # sorted by name: the last
    expect(page.locator("a[rel=next]")).to_have_count(0)
    page.screenshot(path=shots / "workspace-packages-page-2.png", full_page=True)

    page.select_option("select[name=type]", "container")
    page.fill("input[name=q]", "app")
    page.click("button:has-text('Filter')")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    expect(page.locator("table.list tbody")).to_contain_text("app")
    page.screenshot(path=shots / "workspace-packages-search.png", full_page=True)

    page.goto(ui_world.url(f"/{ws}/workspace/projects/WEB/packages?q=cli"))
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    expect(page.locator("table.list tbody")).to_contain_text("tools/cli")
    page.screenshot(path=shots / "project-packages.png", full_page=True)

    page.goto(ui_world.url(f"/{ws}/web/packages"))
    expect(page.locator("h1")).to_contain_text(f"{ws}/web")
    page.screenshot(path=shots / "repository-packages.png", full_page=True)

    page.click("table.list a:text-is('app')")
    expect(page).to_have_url(ui_world.url(f"/{ws}/web/packages/container/app"))
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("tr", has_text="1.0")).to_contain_text("linux/amd64, linux/arm64")
    expect(page.locator("pre.copy")).to_contain_text(f"docker pull {ui_world.server.host}/{ws}/app:")
    page.screenshot(path=shots / "container-image.png", full_page=True)

    page.click("table.list a:text-is('1.0')")
    expect(page.locator("pre.copy")).to_have_text(f"docker pull {ui_world.server.host}/{ws}/app:1.0")
    expect(page.locator("h2:has-text('Platforms') + table")).to_contain_text("linux/arm64")
    expect(page.locator("h2:has-text('Referrers') + table")).to_contain_text(
        "application/vnd.dev.cosign.artifact.sig.v1+json")
    expect(page.locator("pre.json").first).to_contain_text('"manifests"')
    page.screenshot(path=shots / "container-tag-index.png", full_page=True)

    page.click("h2:has-text('Platforms') + table tr:has-text('linux/amd64') a")
    manifest_path = f"/{ws}/web/packages/container/app/-/manifests/{ui_world.amd64_digest}"
    expect(page).to_have_url(ui_world.url(manifest_path))
    expect(page.locator("h2:has-text('Layers') + table tbody tr")).to_have_count(2)
    expect(page.locator("table.kv", has_text="note")).to_contain_text('<script>alert("label")</script>')
    expect(page.locator("h2:has-text('Config') + pre")).to_contain_text('"architecture": "amd64"')
    page.screenshot(path=shots / "container-manifest.png", full_page=True)

    page.goto(ui_world.url(f"/{ws}/web/packages/container/app/-/tags/no-such-tag"))
    expect(page.locator("h1")).to_have_text("Not found")
    page.screenshot(path=shots / "not-found.png", full_page=True)


def test_create_package_with_the_form(page: Page, ui_world: UiWorld, shots: Path) -> None:
    ws = ui_world.workspace
    sign_in(page, ui_world, "admin")
    page.goto(ui_world.url(f"/{ws}/workspace/packages"))
    page.click("a:has-text('Create package')")
    expect(page.locator("h1")).to_contain_text("Create a package")
    page.fill("input[name=name]", "Not Valid")
    page.click("button:has-text('Create package')")
    expect(page.locator(".error")).to_contain_text("invalid image name")
    page.screenshot(path=shots / "create-package-error.png", full_page=True)
    page.fill("input[name=name]", "browser-made")
    page.select_option("select[name=type]", "container")
    page.select_option("select[name=repository]", "web")
    page.screenshot(path=shots / "create-package.png", full_page=True)
    page.click("button:has-text('Create package')")
    expect(page).to_have_url(ui_world.url(f"/{ws}/web/packages/container/browser-made"))
    expect(page.locator(".empty")).to_contain_text("No tags yet")
    page.screenshot(path=shots / "created-package.png", full_page=True)
    # The reader of web sees it; a user without a role there does not.
    assert ui_world.basic("reader").get(page.url, timeout=30).status_code == 200
    assert ui_world.basic("outsider").get(page.url, timeout=30).status_code == 404


def test_create_and_revoke_an_api_token(page: Page, ui_world: UiWorld, shots: Path) -> None:
    sign_in(page, ui_world, "reader")
    page.click("header a:has-text('API tokens')")
    expect(page.locator("h1")).to_have_text("API tokens")
    page.fill("input[name=name]", "browser token")
    page.check("input[value='write:package:bitbucket']")
    page.select_option("select[name=expires_days]", "30")
    page.click("button:has-text('Create token')")
    secret = page.locator("#new-token").inner_text().strip()
    assert secret.startswith("bbpkg_")
    row = page.locator("tr", has_text="browser token")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("write:package:bitbucket")
    page.screenshot(path=shots / "token-created.png", full_page=True)
    email = ui_world.email("reader")
    assert requests.get(ui_world.url("/"), auth=(email, secret), timeout=30).status_code == 200

    # Shown once: a reload of the list shows the token, never its secret.
    page.goto(ui_world.url("/tokens"))
    assert secret not in page.content()
    page.click("button[aria-label='Revoke browser token']")
    expect(page.locator("tr", has_text="browser token")).to_contain_text("revoked")
    page.screenshot(path=shots / "tokens.png", full_page=True)
    assert requests.get(ui_world.url("/"), auth=(email, secret), timeout=30).status_code == 401

    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(ui_world.url("/signin"))
    page.goto(ui_world.url("/tokens"))
    expect(page).to_have_url(ui_world.url("/signin?next=%2Ftokens"))


def test_permission_filtering_in_the_browser(page: Page, ui_world: UiWorld, shots: Path) -> None:
    ws = ui_world.workspace
    sign_in(page, ui_world, "reader")
    page.goto(ui_world.url(f"/{ws}/workspace/packages?q=secret"))
    expect(page.locator(".empty")).to_contain_text("No packages match")
    page.goto(ui_world.url(f"/{ws}/secret/packages/container/hidden-secret"))
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("a:has-text('Create package')")).to_have_count(0)
    page.screenshot(path=shots / "hidden-package-404.png", full_page=True)


def test_delete_a_tag_and_the_package_in_the_browser(page: Page, ui_world: UiWorld, shots: Path) -> None:
    """Each delete asks for confirmation first; a deleted package leaves the lists and its page."""
    ws = ui_world.workspace
    name = "doomed-by-browser"
    # (a process of its own: Playwright's loop runs in this thread)
    ui_world.server.cli("package", "create", f"{ws}/{name}", "--type", "container", "--repository",
                        ui_world.repo("web"))
    client = OciClient(ui_world.server.url, ui_world.credentials["admin"])
    for tag in ("v1", "v2"):
        assert client.push_image(f"{ws}/{name}", tag, image(f"browser delete {tag}")).status_code == 201
    sign_in(page, ui_world, "admin")
    package_page = ui_world.url(f"/{ws}/web/packages/container/{name}")
    page.goto(package_page)
    page.click("tr:has-text('v1') a:has-text('Delete tag')")
    expect(page.locator("h1")).to_have_text("Delete tag v1")
    page.screenshot(path=shots / "delete-tag.png", full_page=True)
    page.click("button:has-text('Delete')")
    expect(page).to_have_url(package_page)
    expect(page.locator("table.list tbody tr")).to_have_count(1)

    page.click("a:has-text('Delete package')")
    expect(page.locator("h1")).to_have_text(f"Delete {name}")
    expect(page.locator("main")).to_contain_text("its name cannot be used again")
    page.screenshot(path=shots / "delete-package.png", full_page=True)
    page.click("button:has-text('Delete')")
    expect(page).to_have_url(ui_world.url(f"/{ws}/web/packages"))
    expect(page.locator("main")).not_to_contain_text(name)
    page.goto(package_page)
    expect(page.locator("h1")).to_have_text("Not found")
    assert client.get(f"/v2/{ws}/{name}/tags/list").status_code == 404


def test_a_short_lived_sign_in_makes_only_shorter_tokens(page: Page, ui_world: UiWorld, shots: Path) -> None:
    email = ui_world.email("browser-lineage")
    server = ui_world.server  # its CLI in a process of its own: Playwright's loop runs in this thread
    server.cli("user", "create", email)
    ui_world.credentials["browser-lineage"] = (email, server.cli(
        "token", "create", email, "--scope", READ, "--expires-days", "2", "--name", "short"))
    sign_in(page, ui_world, "browser-lineage")
    page.goto(ui_world.url("/tokens"))
    options = page.locator("select[name=expires_days] option")
    expect(options).to_have_count(1)  # 30 days, a year and never all outlive the sign-in token
    expect(options.first).to_contain_text("with the token you signed in with")
    expect(page.locator("input[value='write:package:bitbucket']")).to_be_disabled()
    page.fill("input[name=name]", "child of short")
    page.click("button:has-text('Create token')")
    child = page.locator("#new-token").inner_text().strip()
    row = page.locator("tr", has_text="child of short")
    expect(row).to_contain_text("active")
    expect(row).not_to_contain_text("never")
    page.screenshot(path=shots / "token-child.png", full_page=True)
    assert requests.get(ui_world.url("/"), auth=(email, child), timeout=30).status_code == 200

    token_id = next(line.split("\t")[0] for line in server.cli("token", "list", email).splitlines()
                    if line.split("\t")[1] == "short")
    server.cli("token", "revoke", token_id)
    assert requests.get(ui_world.url("/"), auth=(email, child), timeout=30).status_code == 401
