"""Helpers for the observability tests (real ``appserver`` processes).

``obs_server(*args, **kw)`` starts ``tests/observability/apps/obs_app.py``
(or ``app=...``) through the shared ``server_factory`` with both app
directories importable. ``admin_url(srv)`` is the admin listener's URL from
the ``Admin listener at:`` log line; ``admin_get(srv, path)`` fetches a page.
``lines_of(path)`` reads a log file's lines (none while it does not exist).
"""
import http.client
import re
from pathlib import Path

import pytest

from tests.harness.process import APPS_DIR

OBS_APPS = Path(__file__).resolve().parent / "apps"
ADMIN_RE = re.compile(r"Admin listener at: (\S+)")


@pytest.fixture
def obs_server(server_factory):
    def make(*args, app="obs_app", **kw):
        kw.setdefault("pythonpath", [OBS_APPS, APPS_DIR])
        return server_factory(app, *args, **kw)
    return make


def admin_url(srv, timeout=10.0):
    return srv.wait_for_log(ADMIN_RE, timeout).group(1)


def admin_get(srv, path, timeout=10.0):
    """``(status, body text)`` of an admin page."""
    host, port = admin_url(srv)[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def lines_of(path):
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
