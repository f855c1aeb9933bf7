"""appserver.net.connection over a real socket pair: ``send_parts`` delivers the
parts in order, whole, also when signals cut its ``sendmsg`` short (the
worker's handoff timer does that under load); ``read_body`` hands a
Content-Length body over in pieces of at most the size asked for, received
straight from the socket, and never reads past the body (a pipelined request
stays for the parser), and reports a body cut short or too slow;
``prepare_listener`` gives accepted TCP sockets their options through the
listener."""
import signal
import socket
import threading
import time

import pytest

import struct

from appserver.net.connection import BodyTimeout, Connection
from appserver.net.io_timeouts import LOOPBACK_SNDBUF, prepare_listener
from appserver.http.errors import IncompleteRequest
from appserver.http.parser import NEED_DATA, Limits, Request
from appserver.net.sockets import Listener


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


def _posted(body_length, first_piece=b"", read_timeout=5.0):
    """A connection whose parser has taken a POST head of ``body_length``
    bytes (with ``first_piece`` of its body in the same packet)."""
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    conn = Connection(server, "", None, Limits(), read_timeout, 5.0)
    conn.parser.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                     % body_length + first_piece)
    assert isinstance(conn.parser.next_event(), Request)
    return conn, client


@pytest.mark.timeout(30)
def test_a_body_comes_in_pieces_of_the_size_asked_and_stops_at_its_end():
    body = bytes(range(256)) * 1000                      # 256000 bytes
    conn, client = _posted(len(body), body[:1000])

    def send():
        for i in range(1000, len(body), 7000):          # in small, spaced packets
            client.sendall(body[i:i + 7000])
            time.sleep(0.0005)
        client.sendall(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    sender = threading.Thread(target=send)
    sender.start()
    pieces = []
    while True:
        piece = conn.read_body(65536)
        if not piece:
            break
        assert type(piece) is bytes and len(piece) <= 65536
        pieces.append(piece)
    sender.join(10)
    assert b"".join(pieces) == body
    # the first piece: what came with the head, completed from the socket
    assert [len(p) for p in pieces] == [65536] * 3 + [len(body) - 3 * 65536]
    assert conn.received == len(body) - 1000             # counted, not fed
    conn.fill_waiting()
    nxt = conn.parser.next_event()                       # the next request is intact
    assert isinstance(nxt, Request) and nxt.target == "/next"
    conn.close()
    client.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("held", [1, 999, 65535])
def test_a_piece_started_with_the_head_is_completed_and_the_next_request_kept(held):
    body = bytes(range(251)) * 600                       # 150600 bytes
    nxt = b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n"
    conn, client = _posted(len(body), body[:held])
    client.sendall(body[held:] + nxt)                    # the next request right behind
    pieces = [conn.read_body(65536) for _ in range(3)]
    assert [len(p) for p in pieces] == [65536, 65536, len(body) - 2 * 65536]
    assert all(type(p) is bytes for p in pieces)
    assert b"".join(pieces) == body
    assert conn.read_body(65536) == b""                  # the end: not a byte past it
    assert conn.received == len(body) - held
    conn.fill_waiting()
    request = conn.parser.next_event()
    assert isinstance(request, Request) and request.target == "/next"
    conn.close()
    client.close()


@pytest.mark.timeout(30)
def test_a_body_ending_within_the_piece_started_with_the_head_stops_at_its_end():
    body = b"abc" * 1000
    conn, client = _posted(len(body), body[:10])
    client.sendall(body[10:] + b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    assert conn.read_body(65536) == body                 # asked for more: the body only
    assert conn.read_body(65536) == b""
    conn.fill_waiting()
    assert conn.parser.next_event().target == "/next"
    conn.close()
    client.close()


@pytest.mark.timeout(30)
def test_a_body_cut_short_after_the_bytes_that_came_with_the_head_is_incomplete():
    conn, client = _posted(100000, b"h" * 700)
    client.sendall(b"x" * 5000)
    client.shutdown(socket.SHUT_WR)
    assert conn.read_body(65536) == b"h" * 700 + b"x" * 5000  # what there was, then
    with pytest.raises(IncompleteRequest):
        conn.read_body(65536)
    conn.close()
    client.close()


@pytest.mark.timeout(30)
def test_a_client_that_stops_after_the_bytes_with_the_head_times_out():
    conn, client = _posted(100000, b"h" * 700, read_timeout=0.2)
    client.sendall(b"y" * 3000)
    assert conn.read_body(65536) == b"h" * 700 + b"y" * 3000  # partial, not an error
    with pytest.raises(BodyTimeout):
        conn.read_body(65536)
    conn.close()
    client.close()


@pytest.mark.timeout(30)
def test_a_body_cut_short_by_the_client_is_an_incomplete_request():
    conn, client = _posted(100000)
    client.sendall(b"x" * 5000)
    client.shutdown(socket.SHUT_WR)
    got = conn.read_body(65536)
    assert got == b"x" * 5000                            # what there was, then
    with pytest.raises(IncompleteRequest):
        conn.read_body(65536)
    conn.close()
    client.close()


@pytest.mark.timeout(30)
def test_a_client_that_stops_sending_its_body_times_out():
    conn, client = _posted(100000, read_timeout=0.2)
    client.sendall(b"y" * 3000)
    assert conn.read_body(65536) == b"y" * 3000          # partial, not an error
    with pytest.raises(BodyTimeout):
        conn.read_body(65536)
    assert conn.parser.next_event() is NEED_DATA         # the parser is not broken
    conn.close()
    client.close()


@pytest.mark.timeout(10)
def test_an_open_sized_read_returns_what_has_come_without_waiting_for_more():
    conn, client = _posted(100000, read_timeout=60.0)   # waiting would hang the test
    client.sendall(b"first line\n")
    assert conn.read_body() == b"first line\n"          # for readline: what is there
    conn.close()
    client.close()


def test_accepted_tcp_sockets_inherit_nodelay_and_timeouts_from_the_listener():
    listening = socket.create_server(("127.0.0.1", 0))
    listener = Listener(listening, "tcp", listening.getsockname())
    inherited = prepare_listener(listener, 2.5, 7.5)
    client = socket.create_connection(listening.getsockname())
    accepted, _ = listening.accept()
    try:
        assert inherited == socket.SO_RCVTIMEO | socket.SO_SNDTIMEO
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        def timeout(opt):
            return struct.unpack("ll", accepted.getsockopt(socket.SOL_SOCKET, opt, 16))

        assert timeout(socket.SO_RCVTIMEO) == (2, 500000)
        assert timeout(socket.SO_SNDTIMEO) == (7, 500000)
    finally:
        for sock in (accepted, client, listening):
            sock.close()


def _accepted_sndbuf(host):
    listening = socket.create_server((host, 0))
    listener = Listener(listening, "tcp", listening.getsockname())
    prepare_listener(listener, 2.5, 7.5)
    client = socket.create_connection(("127.0.0.1", listening.getsockname()[1]))
    accepted, _ = listening.accept()
    try:
        return accepted.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    finally:
        for sock in (accepted, client, listening):
            sock.close()


def test_a_loopback_listener_fixes_the_send_buffer_others_keep_autotuning():
    """Across loopback autotuning grows send buffers to megabytes that cost
    CPU and buy nothing; a listener others can reach keeps the kernel's."""
    fixed = 2 * LOOPBACK_SNDBUF                 # Linux doubles what is asked
    assert _accepted_sndbuf("127.0.0.1") == fixed
    assert _accepted_sndbuf("0.0.0.0") != fixed   # reached here over loopback too


def test_a_unix_listener_passes_nothing_on():
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    assert prepare_listener(Listener(server, "unix", "/x.sock"), 2.0, 2.0) == 0
    server.close()
    client.close()


@pytest.mark.timeout(30)
def test_a_head_longer_than_one_loop_read_is_read_whole_and_its_body_follows():
    from appserver.net.connection import HEAD_RECV_SIZE
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    conn = Connection(server, "", None, Limits(), 5.0, 5.0)
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 8000) for i in range(6))
    body = b"b" * 70000
    head = b"POST /big HTTP/1.1\r\nHost: t\r\n" + fields + b"Content-Length: %d\r\n\r\n" % len(body)
    assert len(head) > 2 * HEAD_RECV_SIZE
    client.sendall(head + body[:30000])
    reads = 0
    event = NEED_DATA
    while event is NEED_DATA:
        assert conn.fill()
        reads += 1
        event = conn.parser.next_event()
    assert isinstance(event, Request) and event.target == "/big" and reads >= 3
    client.sendall(body[30000:])
    got = []
    while True:
        piece = conn.read_body(65536)
        if not piece:
            break
        got.append(piece)
    assert b"".join(got) == body
    conn.close()
    client.close()


@pytest.mark.timeout(30)
def test_a_piece_bigger_than_a_receive_starts_with_the_held_bytes_alone():
    body = b"z" * 200000
    conn, client = _posted(len(body), body[:500])
    client.sendall(body[500:])
    assert conn.read_body(1 << 20) == body[:500]      # not zeroed and assembled
    assert conn.read_body(1 << 20) == body[500:]      # the rest, straight
    assert conn.read_body(1 << 20) == b""
    conn.close()
    client.close()
