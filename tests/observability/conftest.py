"""Helpers for the observability tests (real ``appserver`` processes).

``obs_server(*args, **kw)`` starts ``tests/observability/apps/obs_app.py``
(or ``app=...``) through the shared ``server_factory`` with both app
directories importable. ``admin_url`` and ``admin_get`` (the admin
listener's pages) are ``tests.harness.clients``'s.
``lines_of(path)`` reads a log file's lines (none while it does not exist).
"""
from pathlib import Path

import pytest

from tests.harness.clients import admin_get, admin_url  # noqa: F401 (their old home)
from tests.harness.process import APPS_DIR

OBS_APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture
def obs_server(server_factory):
    def make(*args, app="obs_app", **kw):
        kw.setdefault("pythonpath", [OBS_APPS, APPS_DIR])
        return server_factory(app, *args, **kw)
    return make


def lines_of(path):
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
