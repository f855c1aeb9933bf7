"""Slow and idle clients cannot hold a sync worker hostage.

300 connections trickling their request head one byte per second and 300
connections that send nothing are held by two workers at once, while a normal
client keeps getting answers quickly; every slow connection is closed by its
header deadline (the trickling ones with a 408 first). A TCP listener hands
a connection to a worker once its first bytes came (TCP_DEFER_ACCEPT); one
that never sends any is handed over at last, and closed by its deadline.
"""

import socket
import time

import pytest

from appserver.net.sockets import DEFER_ACCEPT

HEADER_TIMEOUT = 3.0
SLACK = 2.0           # sweep granularity plus a loaded shared machine
SLOW, IDLE = 300, 300


def _open(address, count):
    socks = []
    for _ in range(count):
        s = socket.create_connection(address, timeout=5)
        s.setblocking(False)
        socks.append(s)
    return socks


SEEN = {}


def _closed(sock):
    """True once the server closed the connection (EOF or reset); what it
    sent before is kept in ``SEEN``."""
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if data:
        SEEN[sock] = SEEN.get(sock, b"") + data
        return False
    return True


def _timed_get(server):
    started = time.monotonic()
    response = server.get("/")
    assert response.status == 200
    return time.monotonic() - started


@pytest.mark.timeout(60)
def test_slow_and_idle_clients_do_not_delay_a_normal_client(server_factory):
    server = server_factory("hello", "--header-timeout", HEADER_TIMEOUT,
                            workers=2)
    address = ("127.0.0.1", server.port)
    slow = _open(address, SLOW)
    for s in slow:
        s.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    idle = _open(address, IDLE)
    opened = time.monotonic()
    worst, closed_after, next_byte = 0.0, 0.0, opened
    open_slow, open_idle = set(slow), set(idle)
    deadline = opened + HEADER_TIMEOUT + SLACK + 2
    while (open_slow or open_idle) and time.monotonic() < deadline:
        before = len(open_slow) + len(open_idle)
        open_slow = {s for s in open_slow if not _closed(s)}
        open_idle = {s for s in open_idle if not _closed(s)}
        if len(open_slow) + len(open_idle) < before:
            closed_after = time.monotonic() - opened
        if time.monotonic() >= next_byte:
            next_byte += 1.0
            for s in list(open_slow):
                try:
                    s.send(b"X")            # one header byte a second
                except OSError:
                    open_slow.discard(s)
            if time.monotonic() - opened < HEADER_TIMEOUT:
                worst = max(worst, _timed_get(server))
        time.sleep(0.05)
    assert worst < 1.0, "a normal request took %.2f s" % worst
    assert not open_slow and not open_idle, (
        "%d trickling and %d idle connections still open %.1f s after opening"
        % (len(open_slow), len(open_idle), closed_after))
    assert closed_after <= HEADER_TIMEOUT + SLACK + 1
    answered = [s for s in slow if SEEN.get(s, b"").startswith(b"HTTP/1.1 408 ")]
    assert len(answered) >= SLOW * 0.9, "%d of %d got a 408" % (len(answered), SLOW)
    assert all(SEEN.get(s, b"") == b"" for s in idle), "idle ones got bytes"
    for s in slow + idle:
        s.close()
    assert _timed_get(server) < 1.0


@pytest.mark.timeout(60)
def test_a_client_that_sends_nothing_is_closed_by_its_header_deadline(server_factory):
    server = server_factory("hello", "--header-timeout", "1", workers=1)
    silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    opened = time.monotonic()
    assert server.get("/").status == 200       # the one worker is not held
    silent.settimeout(DEFER_ACCEPT + 1 + SLACK + 10)
    try:
        assert silent.recv(1) == b""            # closed without a byte
    finally:
        silent.close()
    assert time.monotonic() - opened >= 1.0     # not before its header-timeout
    assert server.get("/").status == 200
