"""Functional tests of request and response bodies: chunked uploads, large
uploads and downloads compared byte for byte, every way of reading
``wsgi.input``, and the ``write()`` callable."""
import hashlib
import io
import json
import os
import random

import pytest

from download import expected_sha256
from wsgi_input import exercise
from tests.harness.clients import read_response

MiB = 1024 * 1024


def _chunks(data, seed=1):
    rnd = random.Random(seed)
    i = 0
    while i < len(data):
        n = rnd.choice([1, 7, 100, 4096, 65536, 300_000])
        yield data[i:i + n]
        i += n


def test_chunked_upload_via_http_client(server_factory):
    server = server_factory("upload")
    data = os.urandom(3 * MiB + 11)
    conn = server.connection()
    try:
        conn.request("POST", "/", body=_chunks(data),
                     headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        resp = conn.getresponse()
        got = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 200
    assert got["length"] == len(data)
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    server.assert_log_clean()


def test_chunked_upload_with_extensions_and_trailers(server_factory):
    server = server_factory("echo")
    with server.connect() as sock:
        sock.sendall(
            b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;name=value\r\nhello\r\n"
            b"6\r\n world\r\n"
            b"A;quoted=\"a b\"\r\n0123456789\r\n"
            b"0\r\nX-Trailer: yes\r\n\r\n"
            b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        rfile = sock.makefile("rb")
        first = read_response(rfile).json()
        second = read_response(rfile).json()
    assert first["body"] == "hello world0123456789"
    assert first["input_terminated"] is True
    assert first["content_length"] in (None, "")
    assert "HTTP_TRANSFER_ENCODING" not in first["headers"] or first["headers"][
        "HTTP_TRANSFER_ENCODING"].lower() == "chunked"
    assert second["path"] == "/next"


@pytest.mark.timeout(60)
def test_upload_10_mib(server_factory):
    server = server_factory("upload")
    data = os.urandom(10 * MiB)
    resp = server.request("POST", "/", body=data,
                          headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert resp.status == 200
    got = resp.json()
    assert got["length"] == len(data)
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    server.assert_log_clean()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cl", ["1", "0"])
def test_download_10_mib(server_factory, cl):
    server = server_factory("download")
    n = 10 * MiB
    resp = server.get(f"/?n={n}&cl={cl}", timeout=30)
    assert resp.status == 200
    assert len(resp.body) == n
    assert hashlib.sha256(resp.body).hexdigest() == expected_sha256(n)
    if cl == "1":
        assert resp.header("Content-Length") == str(n)
        assert not resp.chunked
    server.assert_log_clean()


BODY = (b"line one\nsecond line is longer\n\nshort\n" + b"x" * 70000 + b"\n"
        + b"tail\r\nlast no newline")


@pytest.mark.parametrize("app", ["wsgi_input", "wsgi_input:raw"])
@pytest.mark.parametrize("mode", ["readline", "readline_n", "readlines", "iter", "mixed"])
def test_wsgi_input_reads(server_factory, app, mode):
    """Every read method returns exactly what a file would, and b"" at the
    end of the body although the connection stays open (keep-alive)."""
    server = server_factory(app)
    expected = [p.decode("latin-1") for p in exercise(io.BytesIO(BODY), mode)]
    conn = server.connection()
    try:
        for _ in range(2):  # twice on one connection: the body ends at its length
            conn.request("POST", f"/?mode={mode}", body=BODY)
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read()) == expected
    finally:
        conn.close()


def test_wsgi_input_reads_chunked_body(server_factory):
    server = server_factory("wsgi_input")
    expected = [p.decode("latin-1") for p in exercise(io.BytesIO(BODY), "mixed")]
    conn = server.connection()
    try:
        conn.request("POST", "/?mode=mixed", body=_chunks(BODY, seed=7),
                     headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read()) == expected
    finally:
        conn.close()


@pytest.mark.parametrize("query", ["", "?cl=1"])
def test_write_callable(server_factory, query):
    server = server_factory("write_callable")
    resp = server.get(f"/{query}")
    assert resp.status == 200
    assert resp.body == b"first,second,third,fourth"
    if query:
        assert resp.header("Content-Length") == "25"
    server.assert_log_clean()


def test_expect_100_continue(server_factory):
    """The server asks for the body (100 Continue) when the app reads it."""
    server = server_factory("echo")
    with server.connect() as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        rfile = sock.makefile("rb")
        assert rfile.readline() == b"HTTP/1.1 100 Continue\r\n"
        while rfile.readline() not in (b"\r\n", b""):
            pass
        sock.sendall(b"hello")
        resp = read_response(rfile)
    assert resp.status == 200
    assert resp.json()["body"] == "hello"


def test_expect_100_continue_body_never_read(server_factory):
    """An app that ignores the body answers without the client sending it."""
    server = server_factory("hello")
    with server.connect(timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 200
    assert resp.body == b"Hello, World!\n"
