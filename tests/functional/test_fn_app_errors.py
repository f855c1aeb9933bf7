"""Functional tests of application failures and of ``close()`` on response
iterables: errors become a 500 and a logged traceback, a failure after the
headers closes the connection, and close() runs exactly once however the
response ended."""
import signal
import socket
import struct

import pytest

from tests.harness.clients import read_response, wait_readable


def test_exception_before_headers_is_500_and_logged(server_factory):
    server = server_factory("crash")
    pids = server.worker_pids()
    resp = server.get("/before")
    assert resp.status == 500
    assert b"boom" not in resp.body, "the traceback must not reach the client"
    server.wait_for_log(r"Traceback \(most recent call last\)")
    server.wait_for_log(r"RuntimeError: boom before start_response")
    # The worker survived and still serves.
    assert server.get("/").body == b"ok"
    assert server.worker_pids() == pids


def test_exception_after_start_response_before_body_is_500(server_factory):
    server = server_factory("crash")
    resp = server.get("/after-start")
    assert resp.status == 500
    server.wait_for_log(r"RuntimeError: boom after start_response")


def test_start_response_with_exc_info_replaces_status(server_factory):
    server = server_factory("crash")
    resp = server.get("/exc_info")
    assert resp.status == 503
    assert resp.body == b"recovered"
    server.assert_log_clean()


def test_exception_after_headers_closes_connection(server_factory):
    """Once headers are out, the only honest signal is an incomplete body:
    no terminating chunk, and the connection closed (not kept alive)."""
    server = server_factory("crash")
    with server.connect() as sock:
        sock.sendall(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        rfile = sock.makefile("rb")
        resp = read_response(rfile)
        assert resp.status == 200
        assert resp.body.startswith(b"partial")
        framed = resp.chunked or resp.header("Content-Length") is not None
        assert not (framed and resp.complete), "a failed body was framed as complete"
        assert rfile.read() == b""
    server.wait_for_log(r"RuntimeError: boom after headers")
    assert server.get("/").body == b"ok"


def _close_lines(server, expected):
    """The close() records once ``expected`` are there and the server has
    stopped: a second, wrong close() would have been recorded by then."""
    server.wait_for_records("close.log", expected)
    assert server.stop() == 0, server.log()
    return server.records("close.log")


def test_close_called_once_after_full_response(server_factory):
    server = server_factory("close_tracking")
    resp = server.get("/?chunks=4")
    assert resp.status == 200
    assert len(resp.body) == 4 * 65536
    lines = _close_lines(server, 1)
    assert len(lines) == 1, lines
    assert lines[0].endswith(" 4")
    server.assert_log_clean()


def test_close_called_once_for_head(server_factory):
    server = server_factory("close_tracking")
    resp = server.request("HEAD", "/?chunks=3")
    assert resp.status == 200 and resp.body == b""
    lines = _close_lines(server, 1)
    assert len(lines) == 1, lines


@pytest.mark.timeout(60)
def test_close_called_once_when_client_disconnects(server_factory):
    server = server_factory("close_tracking")
    chunks = 4000  # 250 MiB: far more than any socket buffer holds
    with server.connect() as sock:
        sock.sendall(f"GET /?chunks={chunks} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = 0
        while got < 256 * 1024:
            data = sock.recv(65536)
            assert data, "server closed early"
            got += len(data)
        # Reset, not a polite FIN: the server's next send fails at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    server.wait_for_records("close.log", 1)
    # The worker is still serving.
    resp = server.get("/?chunks=1")
    assert resp.status == 200 and len(resp.body) == 65536
    lines = _close_lines(server, 2)
    assert len(lines) == 2, lines
    sent = int(lines[0].split()[2])
    assert sent < chunks, "the server kept iterating after the client left"
    assert lines[1].split()[2] == "1", lines


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGINT])
def test_a_quick_stop_during_a_streamed_response_closes_it(server_factory, sig):
    """INT or QUIT while the app's iterable is being sent (inside the app
    call of a sync worker, blocked on a reader that does not read): the
    worker exits from inside the call, as Gunicorn's does, closing the
    iterable once, instead of being killed after the quick stop's 2 s."""
    server = server_factory("close_tracking")
    stuck = socket.socket(socket.AF_INET)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    stuck.settimeout(30)
    stuck.connect(server.address)
    stuck.sendall(b"GET /?chunks=100000 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_readable(stuck, 10)
    server.signal(sig)
    assert server.wait_exit() == 0, server.log()
    stuck.close()
    [line] = server.records("close.log")
    assert line.startswith("close ") and int(line.split()[2]) < 100000
    assert "did not stop in time" not in server.log()
    assert "killed by signal" not in server.log()
