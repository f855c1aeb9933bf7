"""Functional tests of response framing (RFC 9112 section 6): a body shorter
than its Content-Length ends the connection, a longer one is cut at the
declared length, 204/304 never carry a body, an empty body is framed, and a
half-closed client still gets its response. Each response is followed by a
pipelined request whose answer must parse right after it."""
import os
import socket

import pytest

from tests.harness.clients import read_response

NEXT = b"GET /?actual=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def _pipelined(server, query):
    with server.connect() as sock:
        sock.sendall(f"GET /?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode() + NEXT)
        rfile = sock.makefile("rb")
        first = read_response(rfile)
        try:
            second = read_response(rfile)
        except EOFError:
            second = None
        rest = rfile.read()
    return first, second, rest


def test_body_shorter_than_content_length_closes_connection(server_factory):
    server = server_factory("framing")
    first, second, rest = _pipelined(server, "declared=10&actual=3")
    assert first.status == 200
    assert first.body == b"aaa" and not first.complete
    assert second is None and rest == b"", "the connection must end after a short body"


def test_body_longer_than_content_length_is_cut(server_factory):
    server = server_factory("framing")
    first, second, rest = _pipelined(server, "declared=3&actual=10")
    assert first.status == 200 and first.body == b"aaa"
    # Either the next response follows at once, or the connection ended.
    if second is not None:
        assert (second.status, second.body) == (200, b"aa")
    assert rest == b""


@pytest.mark.parametrize("query", ["code=204", "code=304", "code=204&actual=5",
                                   "code=304&actual=5&declared=5"])
def test_no_body_for_204_and_304(server_factory, query):
    server = server_factory("framing")
    first, second, rest = _pipelined(server, query)
    assert first.status in (204, 304)
    assert "chunked" not in (first.header("Transfer-Encoding") or "")
    assert second is not None and (second.status, second.body) == (200, b"aa")
    assert rest == b""


@pytest.mark.parametrize("query", ["actual=0", "actual=0&declared=0"])
def test_empty_body_is_framed(server_factory, query):
    server = server_factory("framing")
    first, second, rest = _pipelined(server, query)
    assert (first.status, first.body, first.complete) == (200, b"", True)
    assert first.chunked or first.header("Content-Length") == "0"
    assert second is not None and second.body == b"aa"


def test_half_closed_client_gets_its_response(server_factory):
    server = server_factory("framing")
    with server.connect() as sock:
        sock.sendall(b"GET /?actual=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        resp = read_response(sock.makefile("rb"))
    assert (resp.status, resp.body) == (200, b"aaaa")


def test_unix_socket_file_removed_on_stop(server_factory):
    server = server_factory("framing", unix=True)
    assert os.path.exists(server.address)
    assert server.stop() == 0
    assert not os.path.exists(server.address)
