"""Functional tests of ``wsgi.file_wrapper``: a real file (sendfile-able) and
an in-memory stream are both sent byte for byte, with or without a
Content-Length, over HTTP/1.1 and HTTP/1.0, never for HEAD, and the file is
closed exactly once."""
import hashlib

import pytest

from download import expected_sha256, pattern
from tests.harness.clients import read_response, recv_until_closed

N = 3 * 1024 * 1024 + 5


def _one_close(server, kind):
    """Once the server has stopped, a second close() would be recorded."""
    server.wait_for_records("close.log", 1)
    assert server.stop() == 0, server.log()
    assert server.records("close.log") == [f"close {kind}"]


@pytest.mark.parametrize("app", ["file_wrapper:raw", "file_wrapper"])
@pytest.mark.parametrize("kind", ["file", "bytesio"])
@pytest.mark.parametrize("cl", ["1", "0"])
def test_file_wrapper_body(server_factory, app, kind, cl):
    server = server_factory(app)
    resp = server.get(f"/?n={N}&cl={cl}&kind={kind}", timeout=30)
    assert resp.status == 200
    assert len(resp.body) == N
    assert hashlib.sha256(resp.body).hexdigest() == expected_sha256(N)
    if cl == "1":
        assert resp.header("Content-Length") == str(N)
    _one_close(server, kind)
    server.assert_log_clean()


@pytest.mark.parametrize("kind", ["file", "bytesio"])
def test_file_wrapper_head_sends_no_body(server_factory, kind):
    server = server_factory("file_wrapper:raw")
    with server.connect() as sock:
        sock.sendall(
            f"HEAD /?n={N}&kind={kind} HTTP/1.1\r\nHost: x\r\n\r\n"
            f"GET /?n=1000&kind={kind} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        rfile = sock.makefile("rb")
        head = read_response(rfile, method="HEAD")
        get = read_response(rfile)
        assert rfile.read() == b""
    assert head.status == 200 and head.header("Content-Length") == str(N)
    assert get.body == b"".join(pattern(1000))


def test_file_wrapper_http10_close_delimited(server_factory):
    server = server_factory("file_wrapper:raw")
    with server.connect() as sock:
        sock.sendall(f"GET /?n={N}&cl=0&kind=file HTTP/1.0\r\n\r\n".encode())
        raw = recv_until_closed(sock, timeout=30)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert hashlib.sha256(body).hexdigest() == expected_sha256(N)
    _one_close(server, "file")


def test_file_wrapper_keep_alive(server_factory):
    """Several file responses on one connection stay correctly framed."""
    server = server_factory("file_wrapper:raw")
    conn = server.connection()
    try:
        for n in (1, 65536, 200_001):
            conn.request("GET", f"/?n={n}&kind=file")
            resp = conn.getresponse()
            assert resp.read() == b"".join(pattern(n))
            assert not resp.will_close
    finally:
        conn.close()
