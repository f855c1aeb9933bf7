"""The connection's SENDING state over real socket pairs: a static reply goes
out without blocking, waits with ``wants_write`` while the peer does not
read, advances with ``push`` (each bit of progress restarting send-timeout),
ends as ``finished`` does, and at its deadline closes with a reset."""
import time

import pytest

from appserver.net.connection import CLOSED_STATE, IDLE, SENDING, Connection, Timeouts
from appserver.http.parser import Limits
from appserver.static.reply import Reply
from tests.net.test_connection_states import Listener

SIZE = 8 << 20
GET = b"GET /s/f HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def big(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(bytes(range(256)) * (SIZE // 256))
    return path


def serving(sock):
    conn = Connection(sock, None, Listener(), Limits(), 5.0, 5.0,
                      timeouts=Timeouts(keep_alive=5.0, send=9.0))
    conn.start(0.0)
    conn.parser.feed(GET)
    request = conn.next_request()
    assert conn.parser.skip_empty_body()
    return conn, request


def reply_of(path, offset=0, count=SIZE):
    return Reply(200, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % count,
                 file=open(path, "rb"), offset=offset, count=count)


def read_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        data += sock.recv(min(1 << 20, n - len(data)))
    return bytes(data)


def test_a_large_reply_waits_in_sending_then_ends_idle(pair, big):
    ours, theirs = pair
    conn, _ = serving(ours)
    reply = reply_of(big)
    assert conn.send_static(reply, True, 100.0) is None
    assert conn.state is SENDING and conn.wants_write
    assert conn.deadline == 109.0
    head = len(reply.head)
    got = theirs.recv(1 << 20)                  # what the socket holds, some room
    assert conn.push(200.0) is None
    assert conn.deadline == 209.0               # progress: the bound starts again
    now = 300.0
    while conn.state is SENDING:
        got += theirs.recv(1 << 20)
        done = conn.push(now)
    assert done is reply and reply.file is None  # closed once sent
    got += read_exactly(theirs, head + SIZE - len(got))
    assert got[head:] == big.read_bytes()
    assert conn.state is IDLE and not conn.wants_write
    assert conn.deadline == now + 5.0           # keep-alive, from the end
    assert ours.gettimeout() is None            # blocking again, for the app


def test_no_progress_keeps_the_deadline(pair, big):
    ours, _ = pair
    conn, _ = serving(ours)
    conn.send_static(reply_of(big), True, 100.0)
    assert conn.push(150.0) is None and conn.deadline == 109.0
    assert conn.expired(109.0)


def test_expire_closes_the_connection_and_the_file(pair, big):
    ours, theirs = pair
    conn, _ = serving(ours)
    reply = reply_of(big)
    conn.send_static(reply, True, 0.0)
    assert conn.expire() is None
    assert conn.state is CLOSED_STATE and reply.file is None and conn.aborted
    got = 0
    while True:
        chunk = theirs.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    assert got < SIZE


def test_a_range_and_a_short_body(pair, big):
    ours, theirs = pair
    conn, _ = serving(ours)
    reply = reply_of(big, offset=1000, count=10)
    assert conn.send_static(reply, False, 0.0) is reply
    assert theirs.recv(1000).endswith(big.read_bytes()[1000:1010])
    assert not conn.open                        # not kept: as finished(False)



def test_a_short_body_goes_at_once(pair):
    ours, theirs = pair
    conn, _ = serving(ours)
    small = Reply(404, b"HTTP/1.1 404 Not Found\r\n\r\n", b"404 Not Found\n")
    assert conn.send_static(small, True, 0.0) is small and conn.state is IDLE
    assert theirs.recv(100).endswith(b"\r\n\r\n404 Not Found\n")


def test_a_peer_gone_ends_the_reply(pair, big):
    ours, theirs = pair
    conn, _ = serving(ours)
    reply = reply_of(big)
    conn.send_static(reply, True, time.monotonic())
    theirs.close()
    assert conn.push(time.monotonic()) is reply
    assert conn.state is CLOSED_STATE and reply.file is None
