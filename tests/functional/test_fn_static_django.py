"""The Django example with its static files served by appserver: after
``manage.py collectstatic`` the page links the hashed name Django's manifest
storage wrote, and ``--static /static/=STATIC_ROOT`` answers it (immutable,
from the worker's loop) while Django renders the page."""
import re
import subprocess
import sys

import pytest

from tests.harness.process import REPO_ROOT

DJANGO_DIR = REPO_ROOT / "examples" / "django"


def hashed_css_from_the_loop(srv, project):
    """The page links the hashed stylesheet, which the server answers from
    its loop (immutable): the response."""
    page = srv.get("/")
    assert page.status == 200, page.body[:2000]
    link = re.search(rb'href="(/static/myproj/site\.[0-9a-f]{12}\.css)"', page.body)
    assert link, page.body
    css = srv.get(link.group(1).decode())
    assert css.status == 200
    assert css.body == (project / "myproj" / "static" / "myproj" / "site.css").read_bytes()
    assert css.header("Cache-Control") == "public, max-age=31536000, immutable"
    return css


def test_collectstatic_then_static_from_the_loop(server_factory, tmp_path):
    pytest.importorskip("django")
    root = tmp_path / "staticfiles"
    env = {"DJANGO_STATIC_ROOT": str(root)}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"],
                   cwd=DJANGO_DIR, env={**__import__("os").environ, **env},
                   check=True, capture_output=True, timeout=60)
    srv = server_factory("myproj.wsgi", "--static", "/static/=%s" % root,
                         cwd=DJANGO_DIR, pythonpath=[], env=env)
    css = hashed_css_from_the_loop(srv, DJANGO_DIR)
    assert css.header("Content-Type") == "text/css; charset=utf-8"
    assert srv.get("/static/myproj/missing.css").status == 404
