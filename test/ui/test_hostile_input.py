"""Hostile requests to the pages get a 4xx page, never a 5xx; and cookies are Secure behind https."""

from __future__ import annotations

from pathlib import Path

import requests

from test.support.registry_server import start_registry
from test.ui.conftest import UiWorld, csrf_of


def test_odd_forms_and_paths_are_4xx(ui_world: UiWorld) -> None:
    session = ui_world.signed_in("admin")
    token = csrf_of(session.get(ui_world.url("/tokens"), timeout=30).text)
    new_package = ui_world.url(f"/{ui_world.workspace}/workspace/packages/new")
    # A file where text is expected, and a body in a charset that does not decode.
    files = {"name": ("name.txt", b"evil", "text/plain")}
    response = session.post(new_package, data={"csrf_token": token, "type": "container", "repository": "web"},
                            files=files, timeout=30)
    assert response.status_code == 400
    response = session.post(new_package, data=b"csrf_token=" + token.encode() + b"&name=%ff%fe",
                            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                            timeout=30)
    assert 400 <= response.status_code < 500
    for data in ({"type": "nonsense", "name": "x", "repository": "web"},
                 {"type": "container", "name": "x", "repository": "../../etc"},
                 {"type": "maven", "name": "a" * 5000, "repository": "web"},
                 {"type": "npm", "name": "", "repository": "web"}):
        response = session.post(new_package, data={**data, "csrf_token": token}, timeout=30)
        assert response.status_code == 400, data
    tokens = ui_world.url("/tokens")
    for data in ({"name": "x" * 500, "scope": "read:package:bitbucket"},
                 {"name": "x", "scope": "admin:everything"},
                 {"name": "x", "scope": "read:package:bitbucket", "expires_days": "-1"},
                 {"name": "x", "scope": "read:package:bitbucket", "expires_days": "10" * 20}):
        response = session.post(tokens, data={**data, "csrf_token": token}, timeout=30)
        assert response.status_code == 400, data
    reader = ui_world.basic("reader")
    ws = ui_world.workspace
    for path in (f"/{ws}/web/packages/container/app/-/tags/%2e%2e",
                 f"/{ws}/web/packages/container/app/-/nothing",
                 f"/{ws}/web/packages/container/app/-/manifests/sha256:zz", f"/{ws}/web/packages/rpm/app",
                 f"/{ws}/web/packages/container/%00", f"/{ws}/web/packages/npm/x/-/versions/" + "9" * 400,
                 f"/{ws}/workspace/packages?after=" + "z" * 5000 + "&type=<x>&q=" + "%00" * 300):
        response = reader.get(ui_world.url(path), timeout=30)
        assert 200 <= response.status_code < 500 and response.status_code != 500, path
    bad_cookie = requests.get(ui_world.url("/"), cookies={"packages_session": "x" * 5000},
                              allow_redirects=False, timeout=30)
    assert bad_cookie.status_code == 303


def test_cookies_are_secure_behind_https(tmp_path: Path) -> None:
    server = start_registry(tmp_path / "https", "--public-url", "https://packages.example.com")
    try:
        response = requests.get(f"{server.url}/signin", timeout=30)
        assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
        # The form's own origin is the public URL: a post from the plain-http address is another site.
        # (The cookie is handed over by hand: a client keeps Secure cookies off plain http.)
        cookies = {"packages_signin": response.cookies["packages_signin"]}
        posted = requests.post(f"{server.url}/signin", cookies=cookies, timeout=30,
                               allow_redirects=False, headers={"Origin": server.url},
                               data={"csrf_token": csrf_of(response.text), "email": "a@b.c", "token": "x"})
        assert posted.status_code == 403
        posted = requests.post(f"{server.url}/signin", cookies=cookies, timeout=30,
                               allow_redirects=False, headers={"Origin": "https://packages.example.com"},
                               data={"csrf_token": csrf_of(response.text), "email": "a@b.c", "token": "x"})
        assert posted.status_code == 401  # past the CSRF checks: the credentials are wrong
    finally:
        server.stop()


def test_signin_next_with_control_characters(ui_world: UiWorld) -> None:
    """A signed-in viewer sent to /signin?next=... goes there; characters a header cannot carry are
    percent-encoded (the answer was a dropped connection before)."""
    reader = ui_world.basic("reader")
    for target, location in (("/x%0b", "/x%0B"), ("/%09/evil.example", "/%09/evil.example"),
                             ("/a%20b?q=%C3%BC", "/a%20b?q=%C3%BC"), ("//evil.example", "/")):
        response = reader.get(ui_world.url(f"/signin?next={target}"), allow_redirects=False, timeout=30)
        assert response.status_code == 303, target
        assert response.headers["Location"] == location


def test_token_form_expiry_in_other_digits(ui_world: UiWorld) -> None:
    session = ui_world.signed_in("admin")
    token = csrf_of(session.get(ui_world.url("/tokens"), timeout=30).text)
    for days in ("²", "٣", "1²", "9" * 5000):
        response = session.post(ui_world.url("/tokens"), timeout=30, data={
            "csrf_token": token, "name": "x", "scope": "read:package:bitbucket", "expires_days": days})
        assert response.status_code == 400, days
