"""Functional tests of ``wsgi.file_wrapper``: a real file (sendfile-able) and
an in-memory stream are both sent byte for byte, with or without a
Content-Length, over HTTP/1.1 and HTTP/1.0, never for HEAD, and the file is
closed exactly once. A real file is sent by the worker's loop: a slow reader
does not hold the worker, and the request ends (close(), access line,
max-requests) when the file is out, the client is gone, or send-timeout cut
it; TERM lets it finish."""
import hashlib
import os
import signal
import socket
import struct

import pytest

from download import expected_sha256, pattern
from tests.harness.clients import read_response, recv_until_closed, wait_readable
from tests.harness.process import wait_until

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


# -- a file sent from the worker's loop -----------------------------------------------
# One worker: a request on another connection is answered only if the loop
# runs while the file goes out (a sync worker inside a blocking sendfile
# could not, and with one worker there is nobody to hand the request to).

BIG = 8 * 1024 * 1024


def small_window(server, timeout):
    """A client socket with a small receive buffer, set before connecting, so
    that a file of ``BIG`` bytes cannot go out until the client reads it."""
    sock = socket.socket(socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(timeout)
    sock.connect(server.address)
    return sock


def _ask(sock, n, close=False):
    sock.sendall(f"GET /?n={n}&kind=file HTTP/1.1\r\nHost: x\r\n"
                 f"{'Connection: close' if close else ''}\r\n\r\n".encode())


def _read_file_response(sock, n):
    """The rest of a response of ``n`` body bytes whose first bytes came."""
    rfile = sock.makefile("rb")
    resp = read_response(rfile)
    assert resp.status == 200 and len(resp.body) == n
    assert hashlib.sha256(resp.body).hexdigest() == expected_sha256(n)
    return rfile


def test_a_slow_reader_of_a_file_does_not_hold_the_worker(server_factory):
    server = server_factory("file_wrapper:raw", "--send-timeout", "30",
                            "--access-logfile", "-")
    expected_sha256(BIG)            # the digest is computed before the clock runs
    slow = small_window(server, 30)
    _ask(slow, BIG)
    wait_readable(slow, 10)
    for _ in range(3):
        resp = server.get("/?n=1000&kind=file", timeout=5)
        assert resp.body == b"".join(pattern(1000))
    # The slow file is not over: its close() has not been called yet, and
    # its access line is not written (a small file's close() follows the
    # bytes its client may already have: wait for the three).
    server.wait_for_records("close.log", 3)
    assert server.records("close.log") == ["close file"] * 3
    assert f" 200 {BIG} " not in server.stdout()
    _read_file_response(slow, BIG)
    slow.close()
    server.wait_for_records("close.log", 4)
    server.wait_for_stdout_lines(4)
    assert f" 200 {BIG} " in server.stdout()
    assert server.stop() == 0, server.log()
    assert server.records("close.log") == ["close file"] * 4
    server.assert_log_clean()


def test_a_client_gone_mid_file_has_it_closed_once(server_factory):
    server = server_factory("file_wrapper:raw")
    sock = small_window(server, 10)
    _ask(sock, BIG)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()                    # a reset, mid-file
    server.wait_for_records("close.log", 1)
    assert server.get("/?n=10&kind=file").status == 200
    assert server.stop() == 0, server.log()
    assert server.records("close.log") == ["close file"] * 2


def test_a_reader_that_stops_mid_file_is_cut_at_send_timeout(server_factory):
    server = server_factory("file_wrapper:raw", "--send-timeout", "1")
    stuck = small_window(server, 10)
    _ask(stuck, BIG)
    assert stuck.recv(100).startswith(b"HTTP/1.1 200")
    server.wait_for_records("close.log", 1, timeout=15)     # cut by the server
    server.wait_for_log(r"client read nothing for 1(\.0)? s \(send-timeout\)")
    got = len(recv_until_closed(stuck))     # EOF or a reset, short of the file
    stuck.close()
    assert got < BIG
    assert server.get("/?n=10&kind=file").status == 200
    assert server.stop() == 0, server.log()
    assert server.records("close.log") == ["close file"] * 2


def test_a_file_request_counts_towards_max_requests_when_it_ends(server_factory):
    server = server_factory("file_wrapper:raw", "--max-requests", "3")
    assert server.get("/?n=10&kind=file").status == 200                 # 1
    slow = small_window(server, 30)
    _ask(slow, BIG)                                                     # 2, going out
    wait_readable(slow, 10)
    assert server.get("/?n=10&kind=file").status == 200                 # 3 to start
    assert "max-requests" not in server.log()
    _read_file_response(slow, BIG)
    server.wait_for_log(r"served 3 requests \(max-requests\)")
    slow.close()


def test_term_during_a_long_file_lets_it_finish(server_factory):
    server = server_factory("file_wrapper:raw", "--graceful-timeout", "30")
    expected_sha256(BIG)
    slow = small_window(server, 30)
    _ask(slow, BIG, close=True)
    wait_readable(slow, 10)
    server.signal(signal.SIGTERM)
    server.wait_for_log("Handling signal: term")
    rfile = _read_file_response(slow, BIG)
    assert rfile.read() == b""
    slow.close()
    assert server.wait_exit() == 0, server.log()
    assert server.records("close.log") == ["close file"]


def test_reload_during_a_long_file_lets_it_finish_then_the_connection_moves_on(
        server_factory):
    """HUP: the old worker retires but sends the file to its end; then the
    connection, kept alive, goes to the new worker for its next request."""
    server = server_factory("file_wrapper:raw", "--graceful-timeout", "30")
    expected_sha256(BIG)
    old = server.booted_pids()
    slow = small_window(server, 30)
    _ask(slow, BIG)
    wait_readable(slow, 10)
    server.signal(signal.SIGHUP)
    server.wait_for_log("Booting worker with pid", count=2)
    rfile = _read_file_response(slow, BIG)
    _ask(slow, 1000)
    resp = read_response(rfile)
    assert resp.status == 200 and resp.body == b"".join(pattern(1000))
    wait_until(lambda: old[0] not in server.worker_pids(), timeout=15)
    slow.close()
    assert server.records("close.log") == ["close file"] * 2


def _some_body(sock):
    """Bytes up to the first of the body: only the loop sends a file's body
    (the app call sent the head and returned)."""
    data = b""
    while b"\r\n\r\n" not in data or data.endswith(b"\r\n\r\n"):
        piece = sock.recv(4096)
        assert piece, data
        data += piece
    return data.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("sig, to, fail", [(signal.SIGQUIT, "arbiter", False),
                                            (signal.SIGINT, "worker", False),
                                            (signal.SIGQUIT, "worker", True)])
def test_a_quick_stop_during_a_long_file_closes_it(server_factory, sig, to, fail):
    """INT or QUIT: the worker exits at once, but the file it was sending
    still has its iterable's close() called (PEP 3333), once; an error in
    close() is logged and the worker still exits as asked."""
    server = server_factory("file_wrapper:raw")
    slow = small_window(server, 30)
    slow.sendall(f"GET /?n={BIG}&kind=file&fail={int(fail)} HTTP/1.1\r\n"
                 f"Host: x\r\n\r\n".encode())
    first = _some_body(slow)                # the loop sends the file (SENDING)
    if to == "arbiter":
        server.signal(sig)
    else:
        os.kill(server.worker_pids()[0], sig)
    server.wait_for_records("close.log", 1)
    got = len(first) + len(recv_until_closed(slow))     # the worker exited mid-file
    slow.close()
    assert got < BIG
    if to == "arbiter":
        assert server.wait_exit() == 0, server.log()
    else:
        wait_until(lambda: "exited with code 0" in server.log(), 10, server.log)
        assert server.stop() == 0, server.log()
    assert server.records("close.log") == ["close file"]
    assert ("Error closing the response iterable" in server.log()) is fail
    assert ("RuntimeError: close failed" in server.log()) is fail

