"""Functional test of how new connections are shared out among workers
(``appserver.worker.balance``): a burst of keep-alive connections does not pile up
on whichever worker happens to wake first."""
import collections
import socket

import pytest

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


@pytest.mark.timeout(40)
def test_a_burst_of_keep_alive_connections_is_shared_out(server_factory):
    server = server_factory("pid", workers=2)
    pids = server.wait_for_workers(2)
    socks = []
    try:
        for _ in range(CONNECTIONS):        # all opened before any request
            socks.append(socket.create_connection(server.address, timeout=10))
        counts = collections.Counter(_ask_pid(s) for s in socks)
        for s in socks:                     # still the same worker: keep-alive
            assert _ask_pid(s) in counts
    finally:
        for s in socks:
            s.close()
    assert set(counts) == set(pids), counts
    assert min(counts.values()) >= CONNECTIONS // 4, counts
