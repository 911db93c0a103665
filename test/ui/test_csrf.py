"""Sessions and CSRF: cookie attributes, every POST checked, sign-out ends the session."""

from __future__ import annotations

import requests

from test.registry.conftest import admin
from test.support.registry_server import READ
from test.ui.conftest import UiWorld, csrf_of


def test_sign_in_sets_an_httponly_samesite_session_cookie(ui_world: UiWorld) -> None:
    session = requests.Session()
    form = session.get(ui_world.url("/signin"), timeout=30)
    response = session.post(ui_world.url("/signin"), allow_redirects=False, timeout=30, data={
        "email": ui_world.email("reader"), "token": ui_world.credentials["reader"][1],
        "csrf_token": csrf_of(form.text), "next": "/tokens"})
    assert response.status_code == 303 and response.headers["Location"] == "/tokens"
    cookie = next(value for key, value in response.headers.items() if key.lower() == "set-cookie"
                  and value.startswith("packages_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    assert ui_world.credentials["reader"][1] not in cookie
    assert session.get(ui_world.url("/"), timeout=30, allow_redirects=False).status_code == 200


def test_sign_in_refuses_bad_tokens_and_open_redirects(ui_world: UiWorld) -> None:
    session = requests.Session()
    form = session.get(ui_world.url("/signin"), timeout=30)
    bad = session.post(ui_world.url("/signin"), allow_redirects=False, timeout=30, data={
        "email": ui_world.email("reader"), "token": "bbpkg_not-a-token", "csrf_token": csrf_of(form.text)})
    assert bad.status_code == 401 and "do not match" in bad.text
    good = session.post(ui_world.url("/signin"), allow_redirects=False, timeout=30, data={
        "email": ui_world.email("reader"), "token": ui_world.credentials["reader"][1],
        "csrf_token": csrf_of(form.text), "next": "//evil.example/"})
    assert good.status_code == 303 and good.headers["Location"] == "/"


def test_posts_without_the_csrf_token_are_refused(ui_world: UiWorld) -> None:
    session = ui_world.signed_in("admin")
    new_package = ui_world.url(f"/{ui_world.workspace}/workspace/packages/new")
    data = {"name": "csrf-made", "type": "container", "repository": "web"}
    for extra in ({}, {"csrf_token": ""}, {"csrf_token": "0" * 64}):
        response = session.post(new_package, data={**data, **extra}, allow_redirects=False, timeout=30)
        assert response.status_code == 403, response.text
        assert "CSRF" in response.text
    # Another session's token does not fit this one.
    other = ui_world.signed_in("admin")
    foreign = csrf_of(other.get(ui_world.url("/tokens"), timeout=30).text)
    assert session.post(new_package, data={**data, "csrf_token": foreign}, allow_redirects=False,
                        timeout=30).status_code == 403
    # The right token, from another site's page: refused by Origin.
    own = csrf_of(session.get(ui_world.url("/tokens"), timeout=30).text)
    assert session.post(new_package, data={**data, "csrf_token": own}, allow_redirects=False, timeout=30,
                        headers={"Origin": "http://evil.example"}).status_code == 403
    for path in ("/tokens", "/signout", "/tokens/0123456789abcdef/revoke"):
        assert session.post(ui_world.url(path), data={"name": "x", "scope": "read:package:bitbucket"},
                            allow_redirects=False, timeout=30).status_code == 403
    assert session.get(ui_world.url(f"/{ui_world.workspace}/web/packages/container/csrf-made"),
                       timeout=30).status_code == 404  # nothing was created
    # With its token, the form works (same origin).
    made = session.post(new_package, data={**data, "csrf_token": own}, allow_redirects=False,
                        headers={"Origin": ui_world.server.url}, timeout=30)
    assert made.status_code == 303
    assert made.headers["Location"] == f"/{ui_world.workspace}/web/packages/container/csrf-made"


def test_sign_in_form_needs_its_csrf_token(ui_world: UiWorld) -> None:
    session = requests.Session()
    session.get(ui_world.url("/signin"), timeout=30)
    response = session.post(ui_world.url("/signin"), allow_redirects=False, timeout=30, data={
        "email": ui_world.email("reader"), "token": ui_world.credentials["reader"][1]})
    assert response.status_code == 403
    assert "packages_session" not in response.headers.get("Set-Cookie", "")


def test_basic_auth_posts_need_the_csrf_token_too(ui_world: UiWorld) -> None:
    script = ui_world.basic("admin")
    path = ui_world.url("/tokens")
    refused = script.post(path, data={"name": "x", "scope": "read:package:bitbucket"}, timeout=30)
    assert refused.status_code == 403
    token = csrf_of(script.get(path, timeout=30).text)
    response = script.post(path, data={"name": "script made", "scope": "read:package:bitbucket",
                                       "csrf_token": token}, timeout=30)
    assert response.status_code == 200 and "script made" in response.text


def test_sign_out_ends_the_session(ui_world: UiWorld) -> None:
    session = ui_world.signed_in("reader")
    token = csrf_of(session.get(ui_world.url("/"), timeout=30).text)
    cookie = session.cookies.get("packages_session")
    assert session.post(ui_world.url("/signout"), data={"csrf_token": token}, allow_redirects=False,
                        timeout=30).status_code == 303
    replay = requests.get(ui_world.url("/"), cookies={"packages_session": cookie}, allow_redirects=False,
                          timeout=30)
    assert replay.status_code == 303 and replay.headers["Location"] == "/signin"


def test_revoking_the_sign_in_token_ends_its_sessions(ui_world: UiWorld) -> None:
    secret = admin(ui_world.server, "token", "create", ui_world.email("reader"), "--scope", READ,
                   "--name", "short-lived")
    ui_world.credentials["reader-short"] = (ui_world.email("reader"), secret)
    session = ui_world.signed_in("reader-short")
    assert session.get(ui_world.url("/"), allow_redirects=False, timeout=30).status_code == 200
    listing = admin(ui_world.server, "token", "list", ui_world.email("reader"))
    token_id = next(line.split("\t")[0] for line in listing.splitlines() if "\tshort-lived\t" in line)
    other = ui_world.signed_in("reader")
    tokens_page = other.get(ui_world.url("/tokens"), timeout=30).text
    response = other.post(ui_world.url(f"/tokens/{token_id}/revoke"), allow_redirects=False, timeout=30,
                          data={"csrf_token": csrf_of(tokens_page)})
    assert response.status_code == 303
    assert session.get(ui_world.url("/"), allow_redirects=False, timeout=30).status_code == 303
    # Someone else's token cannot be revoked (it is not found among yours).
    admin_listing = admin(ui_world.server, "token", "list", ui_world.email("admin"))
    admins_token = admin_listing.splitlines()[0].split("\t")[0]
    tokens_page = other.get(ui_world.url("/tokens"), timeout=30).text
    assert other.post(ui_world.url(f"/tokens/{admins_token}/revoke"), allow_redirects=False, timeout=30,
                      data={"csrf_token": csrf_of(tokens_page)}).status_code == 404
