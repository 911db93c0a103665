"""npm and Maven package pages, with packages published by the real clients configured from the pages'
own snippets (.npmrc, settings.xml): versions, dist-tags, deprecations, a README rendered safely,
files with checksums. Screenshots go to test-artifacts/ui/ with the others."""

from __future__ import annotations

import hashlib
import html
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from test.registry.conftest import admin
from test.support.maven_cli import DEPLOY_PLUGIN, SERVER_ID, forget_group, mvn
from test.support.npm_cli import NpmClient, make_package
from test.ui.conftest import UiWorld

README = """# Hello from the README

Some *emphasis*, **strong** words and `inline code`, and a [safe link](https://example.com/docs).

```js
const x = "<b>not bold</b>";
```

<script>alert("readme")</script>
<img src=x onerror=alert("img")>
[evil link](javascript:alert("link"))
"""


@dataclass
class Published:
    npm_name: str
    maven_name: str
    jar_sha1: str


def snippet(page: str, heading: str) -> str:
    """The text of the <pre> that follows a heading on a page."""
    match = re.search(rf"<h2>{re.escape(heading)}</h2>\s*<pre class=\"copy\">(.*?)</pre>", page, re.DOTALL)
    assert match, f"no {heading} snippet"
    return html.unescape(match.group(1))


class TokenFromEnv(NpmClient):
    """npm whose .npmrc is the page's snippet, reading the token from BITBUCKET_PACKAGES_TOKEN."""

    token = ""

    def env(self) -> dict[str, str]:
        return {**super().env(), "BITBUCKET_PACKAGES_TOKEN": self.token}


@pytest.fixture(scope="module")
def published(ui_world: UiWorld, tmp_path_factory: pytest.TempPathFactory) -> Published:
    ws, root = ui_world.workspace, tmp_path_factory.mktemp("ui-npm-maven")
    npm_name, maven_name = f"@{ws}/hello", f"com.example.{ws}:greeter"
    for name, package_type, slug in ((npm_name, "npm", "web"), (maven_name, "maven", "web"),
                                     (f"@{ws}/hidden", "npm", "secret")):
        admin(ui_world.server, "package", "create", f"{ws}/{name}", "--type", package_type, "--repository",
              ui_world.repo(slug))
    script = ui_world.basic("admin")

    # npm, configured with the .npmrc the (still empty) package page shows.
    page = script.get(ui_world.url(f"/{ws}/web/packages/npm/{npm_name}"), timeout=30).text
    npm = TokenFromEnv(root / "npm", f"{ui_world.server.url}/npm/{ws}/")
    npm.token = ui_world.credentials["admin"][1]
    npm.userconfig.write_text(snippet(page, ".npmrc"))
    for version in ("1.0.0", "1.1.0"):
        source = make_package(root / "src" / version, npm_name, version, dependencies={"left-pad": "^1.3.0"},
                              keywords=["demo", "<b>kw</b>"])
        (source / "README.md").write_text(README)
        npm.run("publish", cwd=source)
    npm.run("dist-tag", "add", f"{npm_name}@1.0.0", "stable")
    npm.run("deprecate", f"{npm_name}@1.0.0", "use 1.1.0 <i>now</i>")

    # Maven, with the settings.xml the page shows (the token from the environment, as it says).
    page = script.get(ui_world.url(f"/{ws}/web/packages/maven/{maven_name}"), timeout=30).text
    settings = root / "maven" / "settings.xml"
    settings.parent.mkdir(parents=True)
    settings.write_text(snippet(page, "settings.xml").replace("${env.BITBUCKET_PACKAGES_TOKEN}",
                                                              ui_world.credentials["admin"][1]))
    jar = root / "maven" / "greeter.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("example/greeting.txt", "hello\n")
    group, artifact = maven_name.split(":")
    url = f"{ui_world.server.url}/maven/{ws}/"
    assert SERVER_ID == "bitbucket-packages"  # the <server> id the page's settings.xml names
    for version in ("1.0", "1.1-SNAPSHOT"):
        mvn(root / "maven", settings, f"{DEPLOY_PLUGIN}:deploy-file", f"-Dfile={jar}", f"-DgroupId={group}",
            f"-DartifactId={artifact}", f"-Dversion={version}", "-Dpackaging=jar", f"-Durl={url}",
            f"-DrepositoryId={SERVER_ID}").check()
    forget_group(group)
    return Published(npm_name, maven_name, hashlib.sha1(jar.read_bytes()).hexdigest())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--headless", "--no-sandbox"])
        yield browser
        browser.close()


def test_npm_page_over_http(ui_world: UiWorld, published: Published) -> None:
    ws = ui_world.workspace
    page = ui_world.get("reader", f"/{ws}/web/packages/npm/{published.npm_name}")
    assert page.status_code == 200
    text = page.text
    assert f"npm install {published.npm_name}@1.1.0" in text
    assert snippet(text, ".npmrc").startswith(f"@{ws}:registry={ui_world.server.url}/npm/{ws}/\n")
    # The README: Markdown rendered, raw HTML of the author's left out, no javascript: link.
    readme = re.search(r'<article class="readme">(.*?)</article>', text, re.DOTALL).group(1)
    assert "<h1>Hello from the README</h1>" in readme
    for rendered in ("<em>emphasis</em>", "<strong>strong</strong>", "<code>inline code</code>"):
        assert rendered in readme
    assert '<a href="https://example.com/docs" rel="nofollow noopener noreferrer">safe link</a>' in readme
    assert "<script" not in text and 'alert("readme")' not in readme and "<!--" not in readme
    assert "<img" not in text and "javascript:" not in re.sub(r"\(javascript:alert[^)]*\)", "", readme)
    assert 'href="javascript' not in text
    assert "&lt;b&gt;not bold&lt;/b&gt;" in readme
    # Dist-tags, deprecations, versions.
    assert "<th>stable</th><td>1.0.0</td>" in text and "<th>latest</th><td>1.1.0</td>" in text
    assert "use 1.1.0 &lt;i&gt;now&lt;/i&gt;" in text
    assert "&lt;b&gt;kw&lt;/b&gt;" in text
    version_page = ui_world.get("reader", f"/{ws}/web/packages/npm/{published.npm_name}/-/versions/1.0.0")
    assert version_page.status_code == 200 and "badge deprecated" in version_page.text
    missing = ui_world.get("reader", f"/{ws}/web/packages/npm/{published.npm_name}/-/versions/9.9.9")
    assert missing.status_code == 404


def test_npm_lists_and_permissions(ui_world: UiWorld, published: Published) -> None:
    ws = ui_world.workspace
    reader = ui_world.basic("reader")
    listing = reader.get(ui_world.url(f"/{ws}/workspace/packages?type=npm"), timeout=30).text
    assert published.npm_name in listing and f"@{ws}/hidden" not in listing
    row = re.search(rf"{re.escape(published.npm_name)}</a></td>.*?</tr>", listing, re.DOTALL).group(0)
    assert re.search(r'<td class="num">2</td>', row)  # two versions
    for query in ("hidden", f"@{ws}/hidden"):
        found = reader.get(ui_world.url(f"/{ws}/workspace/packages"), params={"q": query}, timeout=30).text
        assert f"@{ws}/hidden</a>" not in found and "No packages match this filter" in found
    hidden = reader.get(ui_world.url(f"/{ws}/secret/packages/npm/@{ws}/hidden"), timeout=30)
    missing = reader.get(ui_world.url(f"/{ws}/secret/packages/npm/@{ws}/nothing"), timeout=30)
    assert hidden.status_code == missing.status_code == 404 and hidden.text == missing.text


def test_maven_page_over_http(ui_world: UiWorld, published: Published) -> None:
    ws = ui_world.workspace
    group, artifact = published.maven_name.split(":")
    base = f"/{ws}/web/packages/maven/{published.maven_name}"
    page = ui_world.basic("reader").get(ui_world.url(base), timeout=30).text
    dependency = snippet(page, "Dependency")
    assert dependency == (f"<dependency>\n  <groupId>{group}</groupId>\n"
                          f"  <artifactId>{artifact}</artifactId>\n  <version>1.0</version>\n</dependency>")
    assert f"<url>{ui_world.server.url}/maven/{ws}/</url>" in snippet(page, "settings.xml")
    assert f"{artifact}-1.0.jar" in page and published.jar_sha1 in page
    assert "<h2>Releases</h2>" in page and "1.1-SNAPSHOT" in page
    snapshot = ui_world.basic("reader").get(ui_world.url(f"{base}/-/versions/1.1-SNAPSHOT"), timeout=30).text
    assert re.search(rf"{artifact}-1\.1-\d{{8}}\.\d{{6}}-1\.jar", snapshot)
    assert "<version>1.1-SNAPSHOT</version>" in html.unescape(snapshot)
    listing = ui_world.basic("reader").get(ui_world.url(f"/{ws}/web/packages?type=maven"), timeout=30).text
    row = re.search(rf"{re.escape(published.maven_name)}</a></td>.*?</tr>", listing, re.DOTALL).group(0)
    assert re.search(r'<td class="num">2</td>', row)
    assert ui_world.basic("outsider").get(ui_world.url(base), timeout=30).status_code == 404


def test_npm_and_maven_pages_in_the_browser(browser: Browser, ui_world: UiWorld, published: Published,
                                            artifacts_dir: Path) -> None:
    shots = artifacts_dir / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    email, token = ui_world.credentials["reader"]
    ws = ui_world.workspace
    page.goto(ui_world.url(f"/{ws}/web/packages/npm/{published.npm_name}"))
    page.fill("input[name=email]", email)
    page.fill("input[name=token]", token)
    page.click("button:has-text('Sign in')")
    expect(page.locator(".readme h1")).to_have_text("Hello from the README")
    expect(page.locator(".readme a", has_text="safe link")).to_have_attribute("href", "https://example.com/docs")
    assert page.locator("script").count() == 0 and page.locator(".readme img").count() == 0
    expect(page.locator("tr", has_text="1.0.0").first).to_contain_text("use 1.1.0 <i>now</i>")
    page.screenshot(path=shots / "npm-package.png", full_page=True)
    page.click("table.list a:text-is('1.0.0')")
    expect(page.locator(".badge.deprecated")).to_be_visible()
    page.screenshot(path=shots / "npm-version.png", full_page=True)

    page.goto(ui_world.url(f"/{ws}/web/packages/maven/{published.maven_name}"))
    expect(page.locator("table.files")).to_contain_text(published.jar_sha1)
    page.screenshot(path=shots / "maven-artifact.png", full_page=True)
    page.click("table.list a:text-is('1.1-SNAPSHOT')")
    expect(page.locator("h2", has_text="Files of 1.1-SNAPSHOT")).to_be_visible()
    page.screenshot(path=shots / "maven-snapshot.png", full_page=True)

    page.goto(ui_world.url(f"/{ws}/workspace/packages?q={ws}"))
    expect(page.locator("table.list tbody tr")).to_have_count(2)  # the npm and the Maven package of web
    page.screenshot(path=shots / "workspace-packages-all-types.png", full_page=True)
    context.close()
    assert dialogs == []
