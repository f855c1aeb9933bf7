"""Functional test of how new connections are shared out among workers
(``appserver.worker.balance``): a burst of keep-alive connections does not pile up
on whichever worker happens to wake first.

The burst is accepted before the first request goes out: ``connect`` returns
once the kernel has queued the connection, not once a worker accepted it,
and a request that reaches one worker while another still accepts the burst
is a different case, not covered here."""
import collections
import socket

import pytest

from tests.harness.process import wait_until
from tests.harness.procfs import accept_queue

CONNECTIONS = 40


def _ask_pid(sock):
    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(4096)
    return int(body)


def _wait_accepted(port, timeout=10.0):
    wait_until(lambda: accept_queue(port) == 0, timeout, "the burst to be accepted",
               period=0.005)


@pytest.mark.timeout(40)
def test_a_burst_of_keep_alive_connections_is_shared_out(server_factory):
    server = server_factory("pid", workers=2)
    pids = server.wait_for_workers(2)
    socks = []
    try:
        for _ in range(CONNECTIONS):        # all opened before any request
            socks.append(socket.create_connection(server.address, timeout=10))
        _wait_accepted(server.port)         # shared out before any request
        counts = collections.Counter(_ask_pid(s) for s in socks)
        for s in socks:                     # still the same worker: keep-alive
            assert _ask_pid(s) in counts
    finally:
        for s in socks:
            s.close()
    assert set(counts) == set(pids), counts
    assert min(counts.values()) >= CONNECTIONS // 4, counts
