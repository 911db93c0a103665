"""A page of another site, opened in a real browser (Debian's chromium) that has cached the registry's
Basic credentials, tries to change npm dist-tags and deploy a Maven file: nothing changes.

The attacker's page is served from another port of the same host (same site, another origin), as in
the report: it sends what a browser allows without asking the server first (a POST with a text/plain
body, credentials included) and what it must ask for first (a PUT), which the server never allows.
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import sync_playwright

from test.registry.conftest import admin, npm_package_admin
from test.support.maven_http import MavenHttp
from test.support.npm_documents import publish_document
from test.support.processes import free_port
from test.support.registry_server import RegistryServer

CHROMIUM = "/usr/bin/chromium"
NAME = "victim"

ATTACK = """<!doctype html><html><body><script>
window.attack = async (registry, workspace) => {
  const results = [];
  const tag = `${registry}/npm/${workspace}/-/package/__NAME__/dist-tags/latest`;
  const jar = `${registry}/maven/${workspace}/com/example/victim/1.0/victim-1.0.jar`;
  const attempts = [
    [tag, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"},
           body: '"1.0.0"'}],
    [tag, {method: "PUT", credentials: "include", headers: {"Content-Type": "application/json"}, body: '"1.0.0"'}],
    [jar, {method: "PUT", credentials: "include", body: "forged"}],
    [jar, {method: "POST", mode: "no-cors", credentials: "include", body: "forged"}],
  ];
  for (const [url, init] of attempts) {
    try { const r = await fetch(url, init); results.push(r.type + ":" + r.status); }
    catch (e) { results.push("blocked"); }
  }
  return results;
};
</script></body></html>""".replace("__NAME__", NAME)


@pytest.fixture
def attacker_site() -> Iterator[str]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = ATTACK.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_another_sites_page_cannot_change_npm_tags_or_deploy_maven_files(registry: RegistryServer,
                                                                           attacker_site: str) -> None:
    log_start = registry.log_path.stat().st_size
    workspace = f"forge{os.getpid() % 10**6}"
    npm = npm_package_admin(registry, workspace, NAME)
    for version in ("1.0.0", "2.0.0"):
        assert npm.publish(NAME, publish_document(NAME, version)).status_code == 201
    admin(registry, "package", "create", f"{workspace}/com.example:victim", "--type", "maven",
          "--repository", f"{workspace}/code")
    email = f"dev@{workspace}.example.com"
    token = npm.session.headers["Authorization"].split(" ", 1)[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        try:
            # The victim's browser answers the registry's Basic challenges with their credentials.
            context = browser.new_context(http_credentials={"username": email, "password": token,
                                                            "origin": registry.url})
            page = context.new_page()
            # The browser holds the credentials: it can read the packument itself. The victim is also
            # signed in to the web pages (a session cookie).
            assert page.goto(f"{registry.url}/npm/{workspace}/{NAME}").status == 200
            page.goto(f"{registry.url}/signin")
            page.fill("input[name=email]", email)
            page.fill("input[name=token]", token)
            page.click("button:has-text('Sign in')")
            cookies = {c["name"]: c["value"] for c in context.cookies(registry.url)}
            assert "packages_session" in cookies
            page.goto(attacker_site)
            results = page.evaluate("([r, w]) => window.attack(r, w)", [registry.url, workspace])
            context.close()
        finally:
            browser.close()
    # The preflighted PUTs never left the browser; the simple POSTs were refused.
    assert results[1] == "blocked" and results[2] == "blocked", results
    assert npm.request("GET", f"-/package/{NAME}/dist-tags").json() == {"latest": "2.0.0"}
    maven = MavenHttp(registry.url, workspace, (email, token))
    assert maven.get("com/example/victim/1.0/victim-1.0.jar").status_code == 404
    assert "Traceback" not in registry.log_path.read_bytes()[log_start:].decode(errors="replace")
    # The web pages' session cookie is no npm credential at all.
    signed_in = requests.get(npm.url(NAME), cookies=cookies, timeout=30)
    assert signed_in.status_code == 401
    # The same requests from the npm CLI's side (no Origin, JSON, a token) still work.
    assert npm.request("PUT", f"-/package/{NAME}/dist-tags/latest", json="1.0.0").status_code == 201
    assert requests.get(npm.url(f"-/package/{NAME}/dist-tags"), headers={"Authorization": f"Bearer {token}"},
                        timeout=30).json() == {"latest": "1.0.0"}
