"""The connection's state machine, one transition at a time, over real
socket pairs: each state's deadline (set from the moment the state began
and the seconds ``Timeouts`` gives it), what each transition sends or reads,
and how each state ends at its deadline (``expired`` / ``expire``)."""
import socket
import time

import pytest

from appserver.net import connection as C
from appserver.net.connection import (AWAIT_HEAD, CLOSED_STATE, DRAINING, FRONT, IDLE,
                                  LINGERING, PASSED_ON, SERVING, Connection, Front,
                                  Timeouts)
from appserver.http.errors import BadRequest, RequestTimeout
from appserver.http.parser import Limits
from appserver.worker.handoff import Handoff, create_pair

TIMEOUTS = Timeouts(header=3.0, keep_alive=5.0, drain=7.0, linger=11.0)
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class Listener:
    def fileno(self):
        return 99


def new(sock, front=None, peer=("127.0.0.1", 5000)):
    return Connection(sock, peer, Listener(), Limits(), 5.0, 5.0,
                      timeouts=TIMEOUTS, front=front or Front())


def started(sock, now=100.0):
    conn = new(sock)
    assert conn.start(now)
    return conn


def served(conn, client, request=GET):
    """Send ``request`` and take it to SERVING."""
    client.sendall(request)
    conn.fill()
    req = conn.next_request()
    assert req is not None and conn.state is SERVING
    if not req.content_length:
        conn.discard_body(0)        # as the handler ends a request without a body
    return req


def read_all(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


# -- start and FRONT --------------------------------------------------------

def test_start_plain_awaits_a_head_within_header_timeout(pair):
    conn = started(pair[0], now=100.0)
    assert conn.state is AWAIT_HEAD and conn.deadline == 103.0
    assert not conn.expired(102.9) and conn.expired(103.0)


def test_start_with_proxy_protocol_is_front_and_its_head_counts_from_the_accept(pair):
    ours, theirs = pair
    conn = new(ours, Front(proxy_peers={"127.0.0.1"}))
    assert conn.start(100.0) and conn.state is FRONT and conn.deadline == 103.0
    theirs.sendall(b"PROXY TCP4 10.0.0.1 10.0.0.2 1111 80\r\n" + GET)
    conn.base = {}
    conn.advance_front()
    assert conn.state is AWAIT_HEAD and conn.deadline == 103.0   # not restarted
    assert conn.peer == ("10.0.0.1", 1111)
    conn.fill()
    assert conn.next_request().target == "/"                     # nothing read past


def test_start_refuses_a_peer_outside_proxy_allow_ips(pair):
    conn = new(pair[0], Front(proxy_peers={"10.9.9.9"}))
    assert conn.start(100.0) is False and conn.state is CLOSED_STATE


def test_a_bad_proxy_header_closes_without_an_answer(pair):
    ours, theirs = pair
    conn = new(ours, Front(proxy_peers={"127.0.0.1"}))
    conn.start(100.0)
    theirs.sendall(b"GARBAGE\r\n\r\n")
    conn.advance_front()
    assert conn.state is CLOSED_STATE
    try:
        assert read_all(theirs) == b""
    except ConnectionResetError:
        pass                        # closed with the garbage unread: no answer either


# -- AWAIT_HEAD, IDLE, SERVING ----------------------------------------------

def test_a_complete_head_goes_to_serving_without_a_deadline(pair):
    conn = started(pair[0])
    served(conn, pair[1])
    assert conn.deadline == float("inf") and not conn.expired(1e12)


def test_idle_with_part_of_a_head_starts_its_header_timeout_then(pair):
    conn = started(pair[0])
    served(conn, pair[1])
    conn.finished(True, 200.0)
    assert conn.state is IDLE and conn.deadline == 205.0
    pair[1].sendall(b"GET / HT")
    before = time.monotonic()
    conn.fill()
    assert conn.next_request() is None
    assert conn.state is AWAIT_HEAD and before + 3.0 <= conn.deadline <= time.monotonic() + 3.0


def test_eof_between_requests_closes(pair):
    conn = started(pair[0])
    pair[1].shutdown(socket.SHUT_WR)
    conn.fill()
    assert conn.next_request() is None and conn.state is CLOSED_STATE


def test_a_bad_head_raises_for_reject(pair):
    conn = started(pair[0])
    pair[1].sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    conn.fill()
    with pytest.raises(BadRequest):
        conn.next_request()


# -- finished ---------------------------------------------------------------

def test_finished_keep_alive_is_idle_for_keep_alive_seconds(pair):
    conn = started(pair[0])
    served(conn, pair[1])
    assert conn.finished(True, 50.0) is False       # nothing buffered: wait for readable
    assert conn.state is IDLE and conn.deadline == 55.0


def test_finished_keep_alive_says_a_pipelined_request_is_buffered(pair):
    conn = started(pair[0])
    served(conn, pair[1], GET + b"GET /next HTTP/1.1\r\n")   # more came behind
    assert conn.finished(True, 50.0) is True
    assert conn.state is IDLE and conn.next_request() is None
    assert conn.state is AWAIT_HEAD                         # its header-timeout runs
    pair[1].sendall(b"Host: x\r\n\r\n")
    conn.fill()
    assert conn.next_request().target == "/next"


def test_finished_keep_alive_with_body_left_is_draining(pair):
    conn = started(pair[0])
    served(conn, pair[1], b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    assert conn.discard_body(C.DRAIN_BYTES) is True      # skipped what came; no wait
    assert conn.finished(True, 50.0) is False
    assert conn.state is DRAINING and conn.deadline == 57.0


def test_finished_close_with_nothing_unread_closes(pair):
    conn = started(pair[0])
    served(conn, pair[1])
    conn.finished(False, 50.0)
    assert conn.state is CLOSED_STATE and read_all(pair[1]) == b""


def test_finished_close_with_bytes_unread_lingers(pair):
    conn = started(pair[0])
    served(conn, pair[1], GET + b"GET /next HTTP/1.1\r\n")     # more came behind
    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    conn.finished(False, 50.0)
    assert conn.state is LINGERING and conn.deadline == 61.0
    assert read_all(pair[1]).startswith(b"HTTP/1.1 200 OK")  # then EOF: write side shut


# -- DRAINING ---------------------------------------------------------------

def _draining(pair, length=100, first=b"0123456789"):
    conn = started(pair[0])
    served(conn, pair[1], b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
           % length + first)
    conn.discard_body(C.DRAIN_BYTES)
    conn.finished(True, 50.0)
    assert conn.state is DRAINING
    return conn


def test_draining_to_the_body_end_is_idle_and_keeps_what_follows(pair):
    conn = _draining(pair)
    pair[1].sendall(b"x" * 90 + GET)
    conn.skip_body(60.0)
    assert conn.state is IDLE and conn.deadline == 65.0
    assert conn.next_request().target == "/"


def test_draining_past_its_bytes_lingers(pair, monkeypatch):
    monkeypatch.setattr(C, "DRAIN_BYTES", 50)
    conn = _draining(pair, length=1000)
    pair[1].sendall(b"x" * 100)
    conn.skip_body(60.0)
    assert conn.state is LINGERING and conn.deadline == 71.0


def test_draining_peer_gone_closes(pair):
    conn = _draining(pair)
    pair[1].shutdown(socket.SHUT_WR)
    conn.skip_body(60.0)
    assert conn.state is CLOSED_STATE


def test_draining_at_its_deadline_lingers(pair):
    conn = _draining(pair)
    assert conn.expired(57.0)
    assert conn.expire() is None and conn.state is LINGERING


# -- LINGERING, reject ------------------------------------------------------

def test_lingering_discards_until_eof_then_closes(pair):
    conn = _draining(pair)
    conn.linger(60.0)
    pair[1].sendall(b"x" * 1000)
    conn.discard()
    assert conn.state is LINGERING and conn.discarded == 1000
    pair[1].shutdown(socket.SHUT_WR)
    conn.discard()
    assert conn.state is CLOSED_STATE


def test_lingering_at_its_deadline_closes(pair):
    conn = _draining(pair)
    conn.linger(60.0)
    assert conn.expired(71.0) and conn.expire() is None and conn.state is CLOSED_STATE


def test_reject_answers_the_status_then_lingers(pair):
    conn = started(pair[0])
    conn.reject(BadRequest("no"), 80.0)
    assert conn.state is LINGERING and conn.deadline == 91.0
    answer = read_all(pair[1])
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: close" in answer


def test_a_head_past_header_timeout_gets_408(pair):
    conn = started(pair[0], now=100.0)
    pair[1].sendall(b"GET / HT")
    conn.fill()
    conn.next_request()
    error = conn.expire()
    assert isinstance(error, RequestTimeout) and error.status == 408


@pytest.mark.parametrize("state", ["silent new", "idle"])
def test_nothing_received_at_the_deadline_is_closed_silently(pair, state):
    conn = started(pair[0])
    if state == "idle":
        served(conn, pair[1])
        conn.finished(True, 1.0)
    assert conn.expire() is None and conn.state is CLOSED_STATE
    assert read_all(pair[1]) == b""


# -- PASSED_ON and resume ---------------------------------------------------

def test_pass_on_carries_state_since_and_unread_bytes():
    handoff = Handoff(create_pair())
    ours, theirs = socket.socketpair()
    conn = started(ours)
    served(conn, theirs)
    conn.finished(True, 40.0)
    theirs.sendall(b"GET /next HT")
    conn.fill()
    conn.next_request()
    since = conn.since
    assert conn.pass_on(handoff) and conn.state is PASSED_ON
    conn.close()
    assert conn.state is PASSED_ON                  # only this copy is closed
    [moved] = handoff.take(5)
    other = new(moved.sock)
    other.resume(moved.state, moved.since, moved.head)
    assert other.state is AWAIT_HEAD and other.since == since
    assert other.deadline == since + 3.0
    theirs.sendall(b"TP/1.1\r\nHost: x\r\n\r\n")    # resumed exactly there
    other.fill()
    assert other.next_request().target == "/next"
    other.close()
    theirs.close()


@pytest.mark.parametrize("header, peer, dest", [
    (b"PROXY TCP4 10.0.0.1 10.0.0.2 1111 8080\r\n", ("10.0.0.1", 1111), ("10.0.0.2", 8080)),
    (b"PROXY TCP6 2001:db8::1 2001:db8::2 1111 443\r\n", ("2001:db8::1", 1111),
     ("2001:db8::2", 443)),
])
def test_pass_on_carries_the_addresses_from_the_proxy_header(header, peer, dest):
    handoff = Handoff(create_pair())
    ours, theirs = socket.socketpair()
    conn = new(ours, Front(proxy_peers={"127.0.0.1"}))
    conn.base = {"SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80"}
    conn.start(100.0)
    theirs.sendall(header + b"GET /next HT")
    conn.advance_front()
    conn.fill()
    assert conn.next_request() is None and conn.pass_on(handoff)
    conn.close()
    [moved] = handoff.take(5)
    other = new(moved.sock, peer=moved.peer)
    other.base = {"SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80"}
    other.resume(moved.state, moved.since, moved.head, moved.dest)
    assert other.peer == peer and other.dest == dest
    assert other.base == {"SERVER_NAME": dest[0], "SERVER_PORT": str(dest[1])}
    theirs.sendall(b"TP/1.1\r\nHost: x\r\n\r\n")
    other.fill()
    assert other.next_request().target == "/next"
    other.close()
    theirs.close()


def test_a_connection_without_a_proxy_header_moves_without_addresses(pair):
    handoff = Handoff(create_pair())
    conn = started(pair[0])
    pair[1].sendall(b"GET / HT")
    conn.fill()
    conn.next_request()
    assert conn.pass_on(handoff)
    [moved] = handoff.take(5)
    assert moved.dest is None and moved.peer == ("127.0.0.1", 5000)
    moved.sock.close()


def test_only_a_connection_between_requests_moves(pair):
    handoff = Handoff(create_pair())
    conn = started(pair[0])
    served(conn, pair[1])
    assert conn.pass_on(handoff) is False and conn.state is SERVING
    assert handoff.take(5) == []


def test_say_goodbye_closes_a_plain_connection(pair):
    conn = started(pair[0])
    conn.say_goodbye()
    assert conn.state is CLOSED_STATE and read_all(pair[1]) == b""
