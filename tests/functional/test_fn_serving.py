"""Functional tests of basic HTTP serving: TCP and unix sockets, keep-alive,
pipelining, HTTP/1.0, HEAD, the Date and Server headers, and a real client
(curl). Each test starts its own server through ``server_factory``."""
import email.utils
import hashlib
import json
import os
import socket
import subprocess
import time
from datetime import datetime, timezone

import pytest

from download import expected_sha256, pattern
from tests.harness.clients import read_response, recv_until_closed

HELLO = b"Hello, World!\n"
CURL = "/usr/bin/curl"


def test_get_over_tcp(server_factory):
    server = server_factory("hello")
    assert server.port and server.port != 0
    resp = server.get("/")
    assert resp.status == 200
    assert resp.body == HELLO
    assert resp.header("Content-Type") == "text/plain"
    assert resp.header("Content-Length") == str(len(HELLO))
    server.assert_log_clean()


def test_get_over_unix_socket(server_factory):
    server = server_factory("hello", unix=True)
    assert server.url == f"unix:{server.tmpdir / 's.sock'}"
    resp = server.get("/")
    assert resp.status == 200
    assert resp.body == HELLO
    server.assert_log_clean()


def test_keep_alive_reuses_one_connection(server_factory):
    server = server_factory("echo")
    conn = server.connection()
    try:
        seen = set()
        for i in range(5):
            conn.request("GET", f"/item?i={i}")
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200
            assert not resp.will_close, resp.getheaders()
            assert f'"query": "i={i}"'.encode() in data
            # http.client sets sock to None when a response closes it, and
            # would silently reconnect; the local address must never change.
            assert conn.sock is not None
            seen.add(conn.sock.getsockname())
        assert len(seen) == 1
    finally:
        conn.close()


def test_keep_alive_after_unread_body(server_factory):
    """A body the app ignores must be skipped, never parsed as a request."""
    server = server_factory("hello")
    with server.connect() as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
            b"GET /evil HTTP/1.1\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        rfile = sock.makefile("rb")
        first = read_response(rfile)
        second = read_response(rfile)
        assert (first.status, first.body) == (200, HELLO)
        assert (second.status, second.body) == (200, HELLO)
        assert rfile.read() == b""


def test_pipelined_requests_answered_in_order(server_factory):
    server = server_factory("echo")
    requests = (
        b"GET /one?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Content-Type: text/plain\r\n\r\nhello"
        b"GET /three?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with server.connect() as sock:
        sock.sendall(requests)
        rfile = sock.makefile("rb")
        got = [read_response(rfile).json() for _ in range(4)]
        assert rfile.read() == b"", "server must close after Connection: close"
    assert [(g["method"], g["path"], g["query"]) for g in got] == [
        ("GET", "/one", "n=1"),
        ("POST", "/two", ""),
        ("GET", "/three", "n=3"),
        ("GET", "/four", ""),
    ]
    assert got[1]["body"] == "hello"
    assert got[0]["body"] == got[2]["body"] == ""
    assert len({g["remote_port"] for g in got}) == 1


def test_pipelined_byte_by_byte(server_factory):
    """The same two requests, sent one byte at a time."""
    server = server_factory("echo")
    data = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with server.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            sock.send(data[i:i + 1])
        rfile = sock.makefile("rb")
        first, second = read_response(rfile).json(), read_response(rfile).json()
    assert (first["path"], first["body"]) == ("/a", "abc")
    assert second["path"] == "/b"


def test_http10_content_length_response_then_close(server_factory):
    server = server_factory("hello")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw = recv_until_closed(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")), raw
    assert b"chunked" not in head.lower()
    assert body == HELLO
    assert f"content-length: {len(HELLO)}".encode() in head.lower()


def test_http10_streamed_response_is_close_delimited(server_factory):
    """Without a Content-Length, an HTTP/1.0 client cannot get chunked: the
    body must end where the connection closes."""
    server = server_factory("download")
    n = 200_000
    with server.connect() as sock:
        sock.sendall(f"GET /?n={n}&cl=0 HTTP/1.0\r\n\r\n".encode())
        raw = recv_until_closed(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")), head
    assert b"transfer-encoding" not in head.lower(), head
    assert body == b"".join(pattern(n))


def test_http10_keep_alive_not_assumed(server_factory):
    """An HTTP/1.0 request without Connection: keep-alive ends the connection
    even when more requests follow in the same packet."""
    server = server_factory("hello")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n")
        raw = recv_until_closed(sock)
    assert raw.count(b"HTTP/1.") == 1, raw


@pytest.mark.parametrize("query", ["", "?n=100000&cl=0"])
def test_head_has_no_body(server_factory, query):
    """HEAD gets the GET headers and no body; the next pipelined response
    must start right after the head (a leaked body would break it)."""
    app = "download" if query else "hello"
    server = server_factory(app)
    with server.connect() as sock:
        sock.sendall(
            f"HEAD /{query} HTTP/1.1\r\nHost: x\r\n\r\n"
            f"GET /{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        rfile = sock.makefile("rb")
        head = read_response(rfile, method="HEAD")
        get = read_response(rfile)
        assert rfile.read() == b""
    assert head.status == get.status == 200
    assert head.body == b""
    if not query:
        assert head.header("Content-Length") == str(len(HELLO))
        assert get.body == HELLO
    else:
        assert get.body == b"".join(pattern(100000))


def test_date_and_server_headers(server_factory):
    server = server_factory("hello")
    resp = server.get("/")
    assert resp.header("Server", "").startswith("appserver"), resp.headers
    date = resp.header("Date")
    assert date and date.endswith(" GMT"), resp.headers
    sent = email.utils.parsedate_to_datetime(date)
    assert abs((datetime.now(timezone.utc) - sent).total_seconds()) < 60
    assert len(resp.header_all("Date")) == 1
    assert len(resp.header_all("Server")) == 1


def _curl(*args, timeout=20):
    return subprocess.run(
        [CURL, "--silent", "--show-error", "--max-time", "10", *args],
        capture_output=True, timeout=timeout,
    )


def test_curl_get(server_factory):
    server = server_factory("hello")
    out = _curl("--include", f"http://127.0.0.1:{server.port}/")
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert body == HELLO


def test_curl_unix_socket_and_download(server_factory):
    server = server_factory("download", unix=True)
    n = 3 * 1024 * 1024 + 17
    out = _curl("--unix-socket", server.address, f"http://localhost/?n={n}&cl=0")
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256(out.stdout).hexdigest() == expected_sha256(n)


def test_curl_chunked_upload(server_factory, tmp_path):
    server = server_factory("upload")
    data = os.urandom(1024 * 1024 + 3)
    (tmp_path / "data.bin").write_bytes(data)
    started = time.monotonic()
    out = _curl(
        "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{tmp_path / 'data.bin'}",
        f"http://127.0.0.1:{server.port}/",
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["length"] == len(data)
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    assert time.monotonic() - started < 10


# What a worker must not carry when the feature is off: the ssl module
# without TLS, the idna codec for an ASCII bind address, dictConfig without
# log-config, the email package for one Date header. (The C extensions of
# appserver.deploy.sharedlibs are loaded on purpose, before the fork.)
UNUSED_MODULES = ("ssl", "encodings.idna", "logging.config", "email.utils")


def test_worker_without_tls_or_log_config_imports_none_of_it(server_factory):
    server = server_factory("modules")
    resp = server.get("/")
    assert resp.status == 200
    loaded = set(json.loads(resp.body))
    assert "appserver.worker" in loaded         # the list is the worker's own
    assert [m for m in UNUSED_MODULES if m in loaded] == []


def test_common_c_extensions_are_loaded_before_the_fork(server_factory):
    """A worker finds them already imported: it shares the arbiter's copy."""
    from appserver.deploy import sharedlibs
    server = server_factory("modules")
    loaded = set(json.loads(server.get("/").body))
    assert set(sharedlibs.preload()) <= loaded
    assert "_ssl" in loaded                         # this Python has OpenSSL
