"""Static files changed on disk are served fresh, over real sockets.

A worker keeps what a path resolved to, its head and the bytes of a small
file (``appserver.static.cache``); each request checks the file with one
``stat``. On one keep-alive connection (so the same worker answers): a file
changed in place (same size), replaced by a rename, and removed is answered
with its new bytes, a new ``ETag`` and ``Last-Modified``, and 404; a file
above the size whose bytes are kept is sent from the file, fresh too; a
``HEAD`` after a ``GET`` of the same path gets the head alone, and an
``If-None-Match`` with the old ``ETag`` gets the new file, not a 304.
"""

import os

import pytest

from tests.harness.clients import read_response

SMALL = b"a" * 1000
LARGE = 100 * 1024      # above appserver.static.cache.MAX_BODY: sent from the file


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "staticfiles"
    root.mkdir()
    (root / "app.css").write_bytes(SMALL)
    (root / "large.bin").write_bytes(b"L" * LARGE)
    return root


@pytest.fixture
def client(server_factory, site):
    srv = server_factory("counted", "--static", "/static/=%s" % site, "--workers", "1")
    with srv.connect() as sock:
        rfile = sock.makefile("rb")

        def ask(target, method="GET", extra=""):
            sock.sendall(("%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n"
                          % (method, target, extra)).encode("latin-1"))
            return read_response(rfile, method)
        yield ask


def later(path):
    """Move the file's mtime on by a second: a change the clock may not show."""
    info = os.stat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))


def test_a_file_changed_in_place_replaced_or_removed(client, site):
    first = client("/static/app.css")
    assert first.status == 200 and first.body == SMALL
    assert client("/static/app.css").header("ETag") == first.header("ETag")
    with open(site / "app.css", "r+b") as f:    # same size, other bytes
        f.write(b"b" * len(SMALL))
    later(site / "app.css")
    changed = client("/static/app.css")
    assert changed.body == b"b" * len(SMALL)
    assert changed.header("ETag") != first.header("ETag")
    assert changed.header("Last-Modified") != first.header("Last-Modified")
    again = client("/static/app.css", extra="If-None-Match: %s\r\n" % first.header("ETag"))
    assert again.status == 200 and again.body == b"b" * len(SMALL)
    (site / "new.css").write_bytes(b"replaced")
    os.replace(site / "new.css", site / "app.css")
    replaced = client("/static/app.css")
    assert replaced.body == b"replaced" and replaced.header("Content-Length") == "8"
    os.unlink(site / "app.css")
    assert client("/static/app.css").status == 404
    (site / "app.css").write_bytes(b"back")
    assert client("/static/app.css").body == b"back"


def test_head_after_get_has_no_body(client):
    assert client("/static/app.css").body == SMALL
    head = client("/static/app.css", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.header("Content-Length") == str(len(SMALL))
    assert client("/static/app.css").body == SMALL      # the connection is in step


def test_a_file_above_the_kept_size_is_fresh_too(client, site):
    assert client("/static/large.bin").body == b"L" * LARGE
    with open(site / "large.bin", "r+b") as f:
        f.seek(LARGE - 1)
        f.write(b"Z")
    later(site / "large.bin")
    assert client("/static/large.bin").body == b"L" * (LARGE - 1) + b"Z"
    (site / "large.bin").write_bytes(b"short")
    assert client("/static/large.bin").body == b"short"
