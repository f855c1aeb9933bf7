"""Static files over real sockets: ``--static URL_PREFIX=DIR`` answered by the
worker's loop without the app.

Each rule of appserver.static is checked on the wire: 200 and its headers,
304 (If-None-Match, If-Modified-Since), 206 and 416, the precompressed
sibling chosen by Accept-Encoding, traversal attempts and dotfiles (404, the
secret never sent), HEAD, a missing file (404 from the server, or the app
with --static-fallback), 405, access lines that say static, metrics by
status, max-requests not counting static requests; and a slow reader of a
large file that does not hold the worker: other requests on the same worker
are served meanwhile, and the download completes.
"""

import gzip
import hashlib
import os
import re
import socket
import time

import pytest

from tests.harness.clients import read_response
from tests.harness.process import wait_until

BIG = 48 << 20      # larger than any socket buffer: the send must wait for the reader


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("static")
    root = base / "staticfiles"
    (root / "css").mkdir(parents=True)
    (root / "css" / "app.css").write_bytes(b"body { color: red }\n" * 50)
    (root / "css" / "app.css.gz").write_bytes(gzip.compress(b"body { color: red }\n" * 50))
    (root / "css" / "app.css.br").write_bytes(b"not really brotli")
    (root / "app.3f2a9c1b7e4d.js").write_bytes(b"console.log(1)\n")
    (root / ".env").write_bytes(b"SECRET=dotfile")
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_bytes(b"<p>hi</p>")
    (base / "secret.txt").write_bytes(b"SECRET=outside")
    (root / "leak.txt").symlink_to(base / "secret.txt")
    with open(root / "big.bin", "wb") as f:
        block = hashlib.sha256(b"x").digest() * 2048        # 64 KiB
        for _ in range(BIG // len(block)):
            f.write(block)
    return root


@pytest.fixture(scope="module")
def big_digest(site):
    with open(site / "big.bin", "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def serve(server_factory, site):
    def make(*args, app="counted", **kw):
        return server_factory(app, "--static", "/static/=%s" % site, *args, **kw)
    return make


def raw(srv, request, method="GET"):
    """Send raw request bytes; the one response read from the connection."""
    with srv.connect() as sock:
        sock.sendall(request)
        return read_response(sock.makefile("rb"), method)


def get(srv, target, method="GET", **headers):
    lines = "".join("%s: %s\r\n" % (k.replace("_", "-"), v) for k, v in headers.items())
    return raw(srv, ("%s %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n"
                     % (method, target, lines)).encode("latin-1"), method)


def test_a_file_is_answered_without_the_app(serve, site):
    srv = serve("--access-logfile", "-", "--access-log-format",
                '"%(r)s" %(s)s %(b)s %({appserver.static}e)s')
    resp = get(srv, "/static/css/app.css")
    assert resp.status == 200
    assert resp.body == (site / "css" / "app.css").read_bytes()
    assert resp.header("Content-Type") == "text/css; charset=utf-8"
    assert resp.header("Content-Length") == str(len(resp.body))
    assert resp.header("ETag").startswith('"')
    assert resp.header("Last-Modified").endswith(" GMT")
    assert resp.header("Cache-Control") == "public, max-age=60"
    assert resp.header("Vary") == "Accept-Encoding"
    assert get(srv, "/other").body.startswith(b"app /other ")
    assert srv.records("called.log") == ["/other"]
    lines = srv.wait_for_stdout_lines(2)
    assert lines[0] == '"GET /static/css/app.css HTTP/1.1" 200 1000 static'
    assert re.fullmatch(r'"GET /other HTTP/1.1" 200 \d+ -', lines[1])


def test_hashed_names_are_cached_for_a_year(serve):
    resp = get(serve("--static-max-age", "300"), "/static/app.3f2a9c1b7e4d.js")
    assert resp.header("Cache-Control") == "public, max-age=31536000, immutable"
    resp = get(serve("--static-max-age", "300"), "/static/css/app.css")
    assert resp.header("Cache-Control") == "public, max-age=300"


def test_conditional_requests_304(serve):
    srv = serve()
    first = get(srv, "/static/css/app.css")
    etag, modified = first.header("ETag"), first.header("Last-Modified")
    resp = get(srv, "/static/css/app.css", If_None_Match=etag)
    assert resp.status == 304 and resp.body == b""
    assert resp.header("ETag") == etag and resp.header("Content-Length") is None
    assert get(srv, "/static/css/app.css", If_Modified_Since=modified).status == 304
    assert get(srv, "/static/css/app.css", If_None_Match='"stale"').status == 200
    assert get(srv, "/static/css/app.css", If_None_Match='"stale"',
               If_Modified_Since=modified).status == 200
    assert get(srv, "/static/css/app.css", If_Match='"stale"').status == 412
    assert not os.path.exists(srv.tmpdir / "called.log")


def test_ranges_206_and_416(serve, site):
    srv = serve()
    whole = (site / "css" / "app.css").read_bytes()
    resp = get(srv, "/static/css/app.css", Range="bytes=10-19")
    assert resp.status == 206 and resp.body == whole[10:20]
    assert resp.header("Content-Range") == "bytes 10-19/%d" % len(whole)
    resp = get(srv, "/static/css/app.css", Range="bytes=-5")
    assert resp.status == 206 and resp.body == whole[-5:]
    resp = get(srv, "/static/css/app.css", Range="bytes=%d-" % len(whole))
    assert resp.status == 416
    assert resp.header("Content-Range") == "bytes */%d" % len(whole)
    resp = get(srv, "/static/css/app.css", Range="bytes=0-1,5-6")
    assert resp.status == 200 and resp.body == whole
    resp = get(srv, "/static/css/app.css", Range="bytes=0-0", If_Range='"stale"')
    assert resp.status == 200 and resp.body == whole


def test_a_range_of_a_large_file(serve, site):
    srv = serve()
    resp = get(srv, "/static/big.bin", Range="bytes=%d-%d" % (BIG - 100000, BIG - 1))
    with open(site / "big.bin", "rb") as f:
        f.seek(BIG - 100000)
        assert resp.status == 206 and resp.body == f.read()


@pytest.mark.parametrize("accept, encoding, name", [
    ("gzip, deflate, br", "br", "app.css.br"),
    ("gzip", "gzip", "app.css.gz"),
    ("br;q=0.1, gzip", "gzip", "app.css.gz"),
    ("identity", None, "app.css"),
    (None, None, "app.css"),
])
def test_precompressed_choice(serve, site, accept, encoding, name):
    headers = {} if accept is None else {"Accept_Encoding": accept}
    resp = get(serve(), "/static/css/app.css", **headers)
    assert resp.status == 200
    assert resp.header("Content-Encoding") == encoding
    assert resp.body == (site / "css" / name).read_bytes()
    assert resp.header("Vary") == "Accept-Encoding"
    assert resp.header("Content-Type") == "text/css; charset=utf-8"


@pytest.mark.parametrize("target", [
    "/static/../secret.txt", "/static/css/../../secret.txt", "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/%2e%2e/secret.txt", "/static/..%2fsecret.txt", "/static/..%2Fsecret.txt",
    "/static/..%5csecret.txt", "/static/css/app.css%00", "/static/leak.txt",
    "/static/.env", "/static/%2eenv", "/static/sub", "/static/sub/", "/static/",
    "/static//etc/passwd", "/static/missing.css",
])
def test_unsafe_or_missing_paths_are_404_from_the_server(serve, target):
    srv = serve()
    resp = get(srv, target)
    assert resp.status in (400, 404), resp
    assert b"SECRET" not in resp.body and b"<p>" not in resp.body
    assert not os.path.exists(srv.tmpdir / "called.log"), "the app was called"


def test_symlinks_outside_with_the_setting(serve):
    resp = get(serve("--static-follow-symlinks"), "/static/leak.txt")
    assert resp.status == 200 and resp.body == b"SECRET=outside"


def test_fallback_lets_the_app_answer_a_missing_file(serve):
    srv = serve("--static-fallback")
    resp = get(srv, "/static/missing.css")
    assert resp.status == 200 and resp.body.startswith(b"app /static/missing.css ")
    assert get(srv, "/static/css/app.css").body.startswith(b"body")
    assert srv.records("called.log") == ["/static/missing.css"]


def test_head_and_other_methods(serve, site):
    srv = serve()
    resp = get(srv, "/static/big.bin", "HEAD")
    assert resp.status == 200 and resp.body == b""
    assert resp.header("Content-Length") == str(BIG)
    # the connection is clean afterwards: a HEAD sends no body bytes
    with srv.connect() as sock:
        sock.sendall(b"HEAD /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /static/css/app.css HTTP/1.1\r\nHost: x\r\n\r\n")
        rfile = sock.makefile("rb")
        assert read_response(rfile, "HEAD").status == 200
        assert read_response(rfile).body == (site / "css" / "app.css").read_bytes()
    resp = get(srv, "/static/css/app.css", "POST")
    assert resp.status == 405 and resp.header("Allow") == "GET, HEAD"
    assert not os.path.exists(srv.tmpdir / "called.log")


def test_keep_alive_and_pipelining_mix_static_and_app(serve, site):
    srv = serve()
    css = (site / "css" / "app.css").read_bytes()
    with srv.connect() as sock:
        sock.sendall(b"GET /static/css/app.css HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /app HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /static/missing HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /static/css/app.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        rfile = sock.makefile("rb")
        assert read_response(rfile).body == css
        assert read_response(rfile).body.startswith(b"app /app ")
        assert read_response(rfile).status == 404
        last = read_response(rfile)
        assert last.body == css and last.header("Connection") == "keep-alive"
        sock.sendall(b"GET /static/css/app.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        final = read_response(rfile)
        assert final.body == css and final.header("Connection") == "close"
        assert rfile.read() == b""


def small_window(srv, timeout):
    """A client socket with a small receive buffer, set before connecting
    (afterwards, the window already offered would make the kernel drop data)."""
    sock = socket.socket(socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(timeout)
    sock.connect(srv.address)
    return sock


def test_a_slow_reader_does_not_hold_the_worker(serve, big_digest):
    """One worker: while a client reads a large file slowly, other requests
    (app and static) are served; then the download completes intact."""
    srv = serve("--timeout", "2", "--send-timeout", "20", app="pid", workers=1)
    pid = get(srv, "/pid").body
    slow = small_window(srv, 20)
    slow.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    first = slow.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 OK")
    started = time.monotonic()
    for _ in range(5):
        assert get(srv, "/pid").body == pid
        assert get(srv, "/static/css/app.css").status == 200
    # well past --timeout: a download in the loop is no request in the app
    while time.monotonic() - started < 3:
        chunk = slow.recv(1024)
        assert chunk
        first += chunk
        time.sleep(0.05)
    data = bytearray(first)
    while True:
        chunk = slow.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    slow.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert len(body) == BIG and hashlib.sha256(body).hexdigest() == big_digest
    assert get(srv, "/pid").body == pid, "the worker was replaced"


def test_a_reader_that_stops_is_cut_at_send_timeout(serve):
    srv = serve("--send-timeout", "1", app="pid", workers=1)
    pid = get(srv, "/pid").body
    stuck = small_window(srv, 10)
    stuck.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    assert stuck.recv(100).startswith(b"HTTP/1.1 200")
    time.sleep(2.5)             # the bound to cross: no event to wait for
    got, deadline = 0, time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            chunk = stuck.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    except ConnectionResetError:
        pass
    assert got < BIG
    stuck.close()
    assert get(srv, "/pid").body == pid


def test_static_requests_do_not_count_towards_max_requests(serve):
    srv = serve("--max-requests", "3", app="pid", workers=1)
    pid = get(srv, "/pid").body
    for _ in range(10):
        assert get(srv, "/static/css/app.css").status == 200
    assert get(srv, "/pid").body == pid


def test_metrics_count_static_requests_by_status(serve):
    from tests.harness.clients import admin_get
    srv = serve("--admin-bind", "127.0.0.1:0")
    for _ in range(3):
        get(srv, "/static/css/app.css")
    get(srv, "/static/missing.css")
    wanted = ('appserver_requests_total{method="GET",status="2xx"} 3',
              'appserver_requests_total{method="GET",status="4xx"} 1')
    wait_until(lambda: all(w in admin_get(srv, "/metrics")[1] for w in wanted), 10,
               lambda: admin_get(srv, "/metrics")[1])


def test_a_missing_directory_stops_the_start_with_a_reason(server_factory, tmp_path):
    srv = server_factory("hello", "--static", "/static/=%s" % (tmp_path / "nope"),
                         start=False)
    srv.start(wait=False)
    assert srv.wait_exit() != 0
    assert "collectstatic" in srv.log()


def test_a_body_sent_to_a_static_url(serve, site):
    """Skipped when small (the connection is kept), the connection closed when
    its sender waits for a 100 Continue; with fallback the app reads it."""
    srv = serve()
    css = (site / "css" / "app.css").read_bytes()
    with srv.connect() as sock:
        sock.sendall(b"GET /static/css/app.css HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
                     b"hello"
                     b"GET /static/css/app.css HTTP/1.1\r\nHost: x\r\n\r\n")
        rfile = sock.makefile("rb")
        assert read_response(rfile).body == css
        assert read_response(rfile).body == css
    resp = raw(srv, b"GET /static/css/app.css HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    b"Expect: 100-continue\r\n\r\n")
    assert resp.status == 200 and resp.header("Connection") == "close"
