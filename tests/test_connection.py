"""appserver.connection over a real socket pair: ``send_parts`` delivers the
parts in order, whole, also when signals cut its ``sendmsg`` short (the
worker's handoff timer does that under load)."""
import signal
import socket
import threading
import time

import pytest

from appserver.connection import Connection
from appserver.http.parser import Limits


def _reader(sock, out):
    while True:
        data = sock.recv(8192)
        if not data:
            return
        out.append(data)
        time.sleep(0.0005)              # slower than the sender: buffers fill


@pytest.mark.timeout(30)
def test_send_parts_is_whole_and_in_order_when_signals_interrupt_it():
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    conn = Connection(server, "", None, Limits(), 5.0, 5.0)
    parts = [bytes([65 + i]) * (256 * 1024 + i) for i in range(4)]
    received = []
    thread = threading.Thread(target=_reader, args=(client, received))
    ticks = []
    old = signal.signal(signal.SIGALRM, lambda *a: ticks.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        thread.start()
        conn.send_parts(parts)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    server.shutdown(socket.SHUT_WR)
    thread.join(20)
    assert b"".join(received) == b"".join(parts)
    assert ticks                        # the send was interrupted along the way
    conn.close()
    client.close()
