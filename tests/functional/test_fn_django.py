"""Functional test of the Django example: ``appserver myproj.wsgi`` run in
``examples/django`` renders the template and round-trips a CSRF-protected
form."""
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from tests.harness.process import REPO_ROOT

DJANGO_DIR = REPO_ROOT / "examples" / "django"
HEADING = b"<h1>Django on appserver</h1>"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def django_server(server_factory):
    pytest.importorskip("django")
    return server_factory("myproj.wsgi", cwd=DJANGO_DIR, pythonpath=[], workers=2)


def _csrf_cookie(resp):
    cookie = SimpleCookie()
    for value in resp.header_all("Set-Cookie"):
        cookie.load(value)
    assert "csrftoken" in cookie, resp.headers
    return cookie["csrftoken"].value


def test_django_get_renders_template(django_server):
    resp = django_server.get("/")
    assert resp.status == 200, resp.body[:2000]
    assert resp.header("Content-Type").startswith("text/html")
    assert HEADING in resp.body
    assert b'name="csrfmiddlewaretoken"' in resp.body
    _csrf_cookie(resp)


def test_django_post_with_csrf_token_round_trips(django_server):
    token = _csrf_cookie(django_server.get("/"))
    body = urlencode({"csrfmiddlewaretoken": token, "name": "Ada <Lovelace>"})
    resp = django_server.request(
        "POST", "/", body=body,
        headers={**FORM, "Cookie": f"csrftoken={token}"})
    assert resp.status == 200, resp.body[:2000]
    assert b"Hello, Ada &lt;Lovelace&gt;!" in resp.body


def test_django_post_with_page_token_round_trips(django_server):
    page = django_server.get("/")
    token = _csrf_cookie(page)
    masked = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    resp = django_server.request(
        "POST", "/", body=urlencode({"csrfmiddlewaretoken": masked.decode(), "name": "Grace"}),
        headers={**FORM, "Cookie": f"csrftoken={token}"})
    assert resp.status == 200
    assert b"Hello, Grace!" in resp.body


def test_django_post_without_token_is_403(django_server):
    resp = django_server.request("POST", "/", body="name=Mallory", headers=FORM)
    assert resp.status == 403
    assert b"Hello, Mallory" not in resp.body
