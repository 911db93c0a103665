"""Credentials on the pages: a token made with a token never outlives it nor exceeds its scopes, and
the create-package form does not tell who else has a name."""

from __future__ import annotations

import re

import requests

from test.registry.conftest import admin
from test.support.registry_server import READ, WRITE
from test.ui.conftest import UiWorld, csrf_of


def _basic(ui_world: UiWorld, email: str, token: str) -> requests.Session:
    session = requests.Session()
    session.auth = (email, token)
    return session


def _make_token(session: requests.Session, ui_world: UiWorld, name: str, scopes: list[str],
                expires_days: str) -> requests.Response:
    page = session.get(ui_world.url("/tokens"), timeout=30)
    assert page.status_code == 200, page.text
    return session.post(ui_world.url("/tokens"), timeout=30, data={
        "name": name, "scope": scopes, "expires_days": expires_days, "csrf_token": csrf_of(page.text)})


def _secret(page: requests.Response) -> str:
    match = re.search(r'<pre class="copy" id="new-token">([^<]+)</pre>', page.text)
    assert match, page.text
    return match.group(1)


def _token_id(ui_world: UiWorld, email: str, name: str) -> str:
    for line in admin(ui_world.server, "token", "list", email).splitlines():
        token_id, token_name, *_ = line.split("\t")
        if token_name == name:
            return token_id
    raise AssertionError(f"no token {name}")


def test_a_token_made_with_a_token_stays_within_it_and_dies_with_it(ui_world: UiWorld) -> None:
    email = ui_world.email("lineage")
    admin(ui_world.server, "user", "create", email)
    admin(ui_world.server, "grant", email, ui_world.repo("web"), "admin")
    # The parent: read-only, expiring in a day.
    parent = admin(ui_world.server, "token", "create", email, "--scope", READ, "--expires-days", "1",
                   "--name", "parent")
    script = _basic(ui_world, email, parent)

    # The form offers nothing beyond the parent's lifetime.
    form = script.get(ui_world.url("/tokens"), timeout=30).text
    assert 'value=""' not in re.search(r'<select name="expires_days">.*?</select>', form, re.DOTALL).group(0)
    for days in ("", "30", "365"):  # never, or longer than the parent: refused, nothing made
        refused = _make_token(script, ui_world, f"longer-{days or 'never'}", [READ], days)
        assert refused.status_code == 400
        assert "cannot outlive" in refused.text
    refused = _make_token(script, ui_world, "wider", [READ, WRITE], "parent")
    assert refused.status_code == 400
    assert "lacks" in refused.text
    assert "longer-never" not in admin(ui_world.server, "token", "list", email)

    # Within the parent: made, expiring with it.
    child_page = _make_token(script, ui_world, "child", [READ], "parent")
    assert child_page.status_code == 200, child_page.text
    child = _secret(child_page)
    grandchild = _secret(_make_token(_basic(ui_world, email, child), ui_world, "grandchild", [READ], "parent"))
    listed = script.get(ui_world.url("/tokens"), timeout=30).text
    assert "never" not in re.search(r"<tbody>.*</tbody>", listed, re.DOTALL).group(0)
    for token in (child, grandchild):
        assert _basic(ui_world, email, token).get(ui_world.url("/tokens"), timeout=30).status_code == 200

    # Revoking the parent revokes what was made with it, and what was made with that.
    admin(ui_world.server, "token", "revoke", _token_id(ui_world, email, "parent"))
    for token in (parent, child, grandchild):
        assert _basic(ui_world, email, token).get(ui_world.url("/tokens"), timeout=30).status_code == 401
        assert requests.get(ui_world.url("/v2/"), auth=(email, token), timeout=30).status_code == 401


def test_revoking_on_the_page_revokes_the_children(ui_world: UiWorld) -> None:
    email = ui_world.email("lineage2")
    admin(ui_world.server, "user", "create", email)
    parent = admin(ui_world.server, "token", "create", email, "--scope", READ, "--scope", WRITE, "--name", "p2")
    script = _basic(ui_world, email, parent)
    made = _make_token(script, ui_world, "made-by-p2", [READ], "30")  # the parent never expires: any expiry
    assert made.status_code == 200, made.text
    child = _secret(made)
    # Another token of the same user (made by the admin CLI, no parent) revokes p2 on the page.
    other = _basic(ui_world, email, admin(ui_world.server, "token", "create", email, "--scope", READ))
    page = other.get(ui_world.url("/tokens"), timeout=30).text
    revoked = other.post(ui_world.url(f"/tokens/{_token_id(ui_world, email, 'p2')}/revoke"), timeout=30,
                         data={"csrf_token": csrf_of(page)}, allow_redirects=False)
    assert revoked.status_code == 303
    assert requests.get(ui_world.url("/v2/"), auth=(email, child), timeout=30).status_code == 401
    assert requests.get(ui_world.url("/v2/"), auth=(email, parent), timeout=30).status_code == 401


def test_a_signed_in_session_makes_tokens_no_longer_than_its_token(ui_world: UiWorld) -> None:
    email = ui_world.email("lineage3")
    admin(ui_world.server, "user", "create", email)
    short = admin(ui_world.server, "token", "create", email, "--scope", READ, "--expires-days", "2")
    ui_world.credentials["lineage3"] = (email, short)
    session = ui_world.signed_in("lineage3")
    made = _make_token(session, ui_world, "from-session", [READ], "parent")
    assert made.status_code == 200, made.text
    assert _make_token(session, ui_world, "never-from-session", [READ], "").status_code == 400
    listed = session.get(ui_world.url("/tokens"), timeout=30).text
    rows = re.findall(r"<tr>.*?</tr>", re.search(r"<tbody>.*</tbody>", listed, re.DOTALL).group(0), re.DOTALL)
    made_row = [row for row in rows if "from-session" in row]
    assert len(made_row) == 1  # the "never" one was not made
    assert "never" not in made_row[0]


def test_the_create_package_form_does_not_tell_where_a_name_is_taken(ui_world: UiWorld) -> None:
    # "hidden-secret" is linked to repository secret, where the admin has no role.
    page = ui_world.get("admin", f"/{ui_world.workspace}/workspace/packages/new")
    taken = ui_world.basic("admin").post(
        ui_world.url(f"/{ui_world.workspace}/workspace/packages/new"), timeout=30, allow_redirects=False,
        data={"name": "hidden-secret", "type": "container", "repository": "web", "csrf_token": csrf_of(page.text)})
    assert taken.status_code == 400
    assert "not available" in taken.text
    assert "already exists" not in taken.text
