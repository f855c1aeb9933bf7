"""A body the app left unread is skipped in the worker's loop, never by
blocking the worker, and a connection that cannot be kept ends with a
lingering close.

Covers: with ``-w 1``, a client that sends a head with ``Content-Length:
100``, 10 body bytes and then stalls gets its response at once; meanwhile
another client of the same worker is served without waiting for it (its
requests take well under the drain bound); the stalled connection is closed
cleanly (EOF, no reset) once the drain bound passes. A body of 2 MiB the app
does not read (past the 1 MiB the loop skips to keep the connection) gets
its response and then EOF, not a reset that destroys it. A keep-alive client
whose unread body arrives soon after the response keeps its connection.
"""
import socket
import statistics
import time

import pytest

from tests.harness.clients import read_response

HEAD = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def _until_eof(sock, timeout):
    """Read until EOF; ``"eof"``, or ``"reset"`` / ``"timeout"``."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    return "eof"


@pytest.mark.timeout(30)
def test_a_stalled_unread_body_delays_no_other_client(server_factory):
    server = server_factory("sv_app", "--read-timeout", "30", workers=1)
    stalled = server.connect(timeout=10)
    stalled_file = stalled.makefile("rb")
    other = server.connect(timeout=10)
    other_file = other.makefile("rb")
    other.sendall(GET)
    assert read_response(other_file).status == 200         # warm, keep-alive
    started = time.monotonic()
    stalled.sendall(HEAD % 100 + b"0123456789")              # and nothing more
    answer = read_response(stalled_file)
    assert answer.status == 200 and answer.header("connection") != "close"
    latencies = []
    for _ in range(10):
        t0 = time.monotonic()
        other.sendall(GET)
        assert read_response(other_file).status == 200
        latencies.append(time.monotonic() - t0)
    during = time.monotonic() - started
    # The old worker blocked up to read-timeout (30 s) skipping the body; the
    # loop skips it (DRAIN_SECONDS, 2 s, at most) while serving others.
    assert during < 2.0, "served while the body stalled: %.3f s" % during
    assert statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 1.0, latencies
    # The stalled one is closed at the drain bound: the write side first
    # (EOF), then after a bounded linger; never a reset.
    assert _until_eof(stalled, 10) == "eof"
    assert time.monotonic() - started >= 1.5
    other.sendall(GET)
    assert read_response(other_file).status == 200
    for sock in (stalled, other):
        sock.close()


@pytest.mark.timeout(30)
def test_a_large_unread_body_gets_its_response_then_eof(server_factory):
    server = server_factory("sv_app", workers=1)
    client = server.connect(timeout=10)
    rfile = client.makefile("rb")
    size = 2 << 20
    client.sendall(HEAD % size + b"x" * size)               # the app reads none of it
    answer = read_response(rfile)
    assert answer.status == 200
    assert _until_eof(client, 10) == "eof"
    client.close()


@pytest.mark.timeout(30)
def test_an_unread_body_that_follows_soon_keeps_the_connection(server_factory):
    server = server_factory("sv_app", workers=1)
    client = server.connect(timeout=10)
    rfile = client.makefile("rb")
    client.sendall(HEAD % 1000 + b"a" * 10)
    first = read_response(rfile)
    assert first.status == 200 and first.header("connection") != "close"
    client.sendall(b"b" * 990 + GET)                        # the rest, then the next
    second = read_response(rfile)
    assert second.status == 200
    assert second.body == first.body                        # the same worker
    client.close()
