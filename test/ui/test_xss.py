"""Markup in what users push (labels, annotations, names) is shown as text, never as HTML."""

from __future__ import annotations

from markupsafe import escape  # what the pages' templates escape with

from test.ui.conftest import XSS_ANNOTATION, XSS_LABEL, UiWorld, csrf_of


def assert_shown_as_text(page: str, payload: str) -> None:
    assert payload not in page
    assert str(escape(payload)) in page


def test_image_label_is_escaped(ui_world: UiWorld) -> None:
    page = ui_world.basic("reader").get(
        ui_world.url(f"/{ui_world.workspace}/web/packages/container/app/-/tags/amd64"), timeout=30)
    assert page.status_code == 200
    assert_shown_as_text(page.text, XSS_LABEL)
    assert "<script" not in page.text.lower()


def test_referrer_annotation_is_escaped(ui_world: UiWorld) -> None:
    page = ui_world.basic("reader").get(
        ui_world.url(f"/{ui_world.workspace}/web/packages/container/app/-/tags/1.0"), timeout=30)
    assert page.status_code == 200
    assert ui_world.signature_digest in page.text
    assert_shown_as_text(page.text, XSS_ANNOTATION)
    assert "<img" not in page.text.lower()
    # No script may run on any page, should escaping ever miss something.
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_package_name_with_markup_is_refused_and_echoed_as_text(ui_world: UiWorld) -> None:
    script = ui_world.basic("admin")
    path = ui_world.url(f"/{ui_world.workspace}/workspace/packages/new")
    payload = '"><script>alert("name")</script>'
    for package_type in ("container", "npm", "maven"):
        token = csrf_of(script.get(path, timeout=30).text)
        response = script.post(path, data={"name": payload, "type": package_type, "repository": "web",
                                           "csrf_token": token}, timeout=30)
        assert response.status_code == 400
        assert "<script" not in response.text.lower()
        assert str(escape(payload)) in response.text  # in the form's value, as text


def test_search_query_is_escaped(ui_world: UiWorld) -> None:
    payload = '"><svg onload=alert(1)>'
    page = ui_world.basic("reader").get(ui_world.url(f"/{ui_world.workspace}/workspace/packages"),
                                        params={"q": payload}, timeout=30)
    assert page.status_code == 200
    assert "<svg" not in page.text
