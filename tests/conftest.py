"""Shared pytest fixtures.

Contract: ``server_factory(app, *args, **kw)`` builds a ``tests.harness.server.Server``
(same keywords), starts it unless ``start=False``, and always stops it and
removes its temporary directory when the test ends, whatever happened.
``pair`` is a connected socket pair (ours, theirs), theirs with a 5 s
timeout, both closed after the test. ``tests/apps`` is importable from tests,
so a test can reuse an app's helpers (for example the download pattern) to
compute what it expects.
"""
import socket
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
for _p in (TESTS_DIR.parent, TESTS_DIR / "apps"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from tests.harness.server import Server  # noqa: E402


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    theirs.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


@pytest.fixture
def server_factory():
    """Create servers that are stopped (and cleaned up) after the test."""
    servers = []

    def make(app, *args, start=True, **kw):
        srv = Server(app, tuple(args), **kw)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    errors = []
    for srv in reversed(servers):
        try:
            srv.cleanup()
        except Exception as exc:  # keep stopping the others
            errors.append(exc)
    if errors:
        raise errors[0]
