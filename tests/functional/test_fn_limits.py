"""Per-connection limits and timeouts over real sockets: max-connections,
keep-alive, read-timeout (a stalled body gets 408) and send-timeout (a client
that stops reading is dropped and the worker moves on). The timeouts hold
also while the worker holds other connections (its handoff timer then ticks
through the blocked call: each tick interrupts it, which restarts a kernel
timeout)."""

import socket
import time

import pytest

from tests.harness.clients import read_response, wait_readable


def _closed_within(sock, seconds):
    """Wait for EOF (or a reset) on ``sock``; the bytes received before it."""
    sock.settimeout(seconds)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    except socket.timeout:
        raise AssertionError("still open after %.1f s (got %r)" % (seconds, data[:80])) from None


def _keep_alive_request(server):
    sock = server.connect()
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = read_response(sock.makefile("rb"))
    assert response.status == 200
    return sock


@pytest.mark.timeout(30)
def test_max_connections_closes_the_oldest_idle_keep_alive_first(server_factory):
    server = server_factory("hello", "--max-connections", 3, "--keep-alive", 30)
    first, second, third = (_keep_alive_request(server) for _ in range(3))
    fourth = _keep_alive_request(server)            # over the limit: room is made
    assert _closed_within(first, 5) == b""          # the oldest idle one went
    for sock in (second, third, fourth):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock.makefile("rb")).status == 200
        sock.close()


@pytest.mark.timeout(30)
def test_keep_alive_timeout_closes_an_idle_connection(server_factory):
    server = server_factory("hello", "--keep-alive", 1)
    sock = _keep_alive_request(server)
    started = time.monotonic()
    assert _closed_within(sock, 5) == b""
    assert 0.5 <= time.monotonic() - started <= 3.5


def _bystander(server, present):
    """An idle keep-alive connection held by the worker, when ``present``."""
    return _keep_alive_request(server) if present else None


@pytest.mark.timeout(30)
@pytest.mark.parametrize("other_connection", [False, True])
def test_stalled_body_gets_408_after_read_timeout(server_factory, other_connection):
    server = server_factory("upload", "--read-timeout", 1, workers=1)
    other = _bystander(server, other_connection)
    sock = server.connect()
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    started = time.monotonic()
    data = _closed_within(sock, 8)
    assert data.startswith(b"HTTP/1.1 408 "), data[:80]
    assert b"Connection: close" in data
    assert 0.5 <= time.monotonic() - started <= 5
    assert server.get("/").status in (200, 411)   # the worker serves on
    if other is not None:
        other.close()


@pytest.mark.timeout(40)
@pytest.mark.parametrize("other_connection", [False, True])
def test_client_that_stops_reading_is_dropped_after_send_timeout(server_factory,
                                                                  other_connection):
    server = server_factory("download", "--send-timeout", 1, workers=1)
    other = _bystander(server, other_connection)
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (64 << 20))
    wait_readable(sock)                              # the answer began; never read
    mark = server.log_offset()
    started = time.monotonic()
    assert server.get("/?n=10").status == 200       # the one worker is free again
    assert time.monotonic() - started < 10
    server.wait_for_log(r"send-timeout", after=mark, timeout=5)
    sock.close()
    if other is not None:
        other.close()


@pytest.mark.timeout(30)
def test_accepting_pauses_while_every_connection_is_busy(server_factory):
    server = server_factory("hello", "--max-connections", 2)
    held = [server.connect() for _ in range(2)]
    for sock in held:
        sock.sendall(b"GET / HTTP/1.1\r\n")          # heads in progress: not idle
    waiting = server.connect()
    waiting.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    waiting.settimeout(1.0)
    with pytest.raises(socket.timeout):
        waiting.recv(1)                              # left in the backlog
    held[0].close()                                  # a slot frees: accepting resumes
    waiting.settimeout(5.0)
    assert read_response(waiting.makefile("rb")).status == 200
    for sock in held[1:] + [waiting]:
        sock.close()


@pytest.mark.timeout(40)
@pytest.mark.parametrize("other_connection", [False, True])
def test_client_that_stops_reading_a_file_is_dropped_after_send_timeout(server_factory,
                                                                        other_connection):
    server = server_factory("file_wrapper:raw", "--send-timeout", 1, workers=1)
    assert server.get("/?n=%d" % (32 << 20)).status == 200     # the file exists now
    other = _bystander(server, other_connection)
    sock = server.connect()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (32 << 20))
    wait_readable(sock)                              # the answer began; never read
    mark = server.log_offset()
    assert server.get("/?n=10").status == 200       # the one worker is free again
    server.wait_for_log(r"send-timeout", after=mark, timeout=5)
    sock.close()
    if other is not None:
        other.close()
