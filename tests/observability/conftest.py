"""Helpers for the observability tests (real ``appserver`` processes).

``obs_server(*args, **kw)`` starts ``tests/observability/apps/obs_app.py``
(or ``app=...``) through the shared ``server_factory`` with both app
directories importable. ``admin_url(srv)`` is the admin listener's URL from
the ``Admin listener at:`` log line; ``admin_get(srv, path)`` fetches a page.
``wait_until(predicate)`` polls with a bound. ``raw_request(srv, data)`` sends
bytes on a fresh connection and returns everything until the server closes.
"""
import http.client
import re
import time
from pathlib import Path

import pytest

from tests.server import APPS_DIR, recv_until_closed

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


def wait_until(predicate, timeout=10.0, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + message)
        time.sleep(0.05)


def raw_request(srv, data, timeout=10.0):
    sock = srv.connect(timeout)
    try:
        sock.sendall(data)
        return recv_until_closed(sock, timeout)
    finally:
        sock.close()


def lines_of(path):
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
