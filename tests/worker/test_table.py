"""The connection table and the hand-off tick (``appserver.worker.table``,
``appserver.worker.longcall``) over real sockets, built through their
constructors: every connection with a request waiting is passed on once,
also when a second tick arrives while the first is still passing them on
(Python runs the handler inside itself then). Passed twice, one socket
would be read by two workers: a request's body parsed as a head (414),
EBADF inside the app. A connection passed on also leaves the giver's epoll
set (closing its descriptor does not do that while the socket lives on in
the pair). A new connection whose request came with it is handed to the
worker at once, before the next is accepted; one still silent is watched."""
import os
import select
import socket
import time

import pytest

from appserver.observe import scoreboard
from appserver.net.connection import IDLE, Connection
from appserver.http.parser import Limits
from appserver.net.sockets import Listener
from appserver.worker.handoff import HANDOFF_AFTER, Handoff, create_pair
from appserver.worker.longcall import LongCall
from appserver.worker.table import ConnectionTable


class Pool:
    """A table and its tick with real sockets; ``waiting`` connections in
    it have a request waiting, while a long app call runs."""

    def __init__(self, waiting, read_peers=lambda: ()):
        self.poller = select.epoll()
        self.handoff = Handoff(create_pair())
        listening = socket.create_server(("127.0.0.1", 0))
        listening.setblocking(False)
        self.listener = Listener(listening, "tcp", listening.getsockname())
        board = scoreboard.Scoreboard(slots=4)
        self.table = ConnectionTable(self.poller, {self.listener.fileno(): self.listener},
                                     self.handoff, self.connection,
                                     board.claim(0, os.getpid(), time.monotonic()),
                                     100, read_peers)
        self.table.accept_on()
        self.conns = self.table.conns
        self.longcall = LongCall(self.table)
        self.clients, self.inodes = [], []
        self.longcall.in_app, self.longcall.ticking = True, True
        self.longcall.started = time.monotonic() - 10 * HANDOFF_AFTER   # a long call
        self.longcall.tick_saw = self.longcall.started           # an earlier tick saw
        for _ in range(waiting):
            ours, theirs = socket.socketpair()
            self.inodes.append(os.fstat(ours.fileno()).st_ino)
            conn = self.table._add(self.connection(ours, "", self.listener))
            conn.start(time.monotonic())
            theirs.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.fill()
            conn.next_request()
            conn.discard_body(0)
            conn.finished(True, time.monotonic())
            assert conn.state is IDLE
            self.table.watch(conn)
            theirs.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")   # a request waits
            self.clients.append(theirs)

    def connection(self, sock, peer, listener):
        return Connection(sock, peer, listener, Limits(), 5.0, 5.0)

    def tick(self):
        self.longcall._on_tick(None, None)

    def close(self, *more):
        for sock in list(more) + self.clients + [self.listener.sock]:
            sock.close()


def test_a_tick_during_a_tick_passes_nothing_twice():
    pool = Pool(waiting=6)
    give = pool.handoff.give
    nested = []

    def give_with_a_second_tick(*args):
        if not nested:                  # the next tick fires mid-handoff
            nested.append(True)
            pool.tick()
            # and the descriptors it freed are reused, as a busy worker does
            nested.extend(socket.socketpair() for _ in range(6))
        return give(*args)

    pool.handoff.give = give_with_a_second_tick
    pool.tick()
    moved = pool.handoff.take(100)
    assert nested and pool.conns == {}
    # each socket once: the inodes of the descriptors received are the six
    # sockets that had a request waiting, none of them twice
    assert sorted(os.fstat(m.sock.fileno()).st_ino for m in moved) == sorted(pool.inodes)
    reused = [sock for pair in nested[1:] for sock in pair]
    for sock in [m.sock for m in moved] + pool.clients + [pool.listener.sock] + reused:
        sock.close()


def test_connections_go_once_without_a_nested_tick_too():
    pool = Pool(waiting=3)
    pool.tick()
    pool.tick()    # the next tick finds them gone
    moved = pool.handoff.take(100)
    assert sorted(os.fstat(m.sock.fileno()).st_ino for m in moved) == sorted(pool.inodes)
    for sock in [m.sock for m in moved] + pool.clients + [pool.listener.sock]:
        sock.close()


@pytest.mark.parametrize("earlier", ["none", "previous call"])
def test_a_call_no_earlier_tick_saw_is_not_long_yet(earlier):
    """The first tick a worker gets after waiting for the CPU finds a quick
    call past the bound: nothing moves until a later tick sees it again."""
    pool = Pool(waiting=3)
    pool.longcall.tick_saw = None if earlier == "none" else pool.longcall.started - 0.001
    pool.tick()
    assert pool.handoff.take(100) == [] and len(pool.conns) == 3
    pool.tick()           # still running: long now
    moved = pool.handoff.take(100)
    assert len(moved) == 3 and pool.conns == {}
    for sock in [m.sock for m in moved] + pool.clients + [pool.listener.sock]:
        sock.close()


def test_a_connection_passed_on_leaves_the_givers_epoll_set():
    pool = Pool(waiting=3)
    pool.tick()
    moved = pool.handoff.take(100)
    for client in pool.clients:                 # more bytes for the new holder
        client.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(moved) == 3
    woken = [fd for fd, _ in pool.poller.poll(0) if fd != pool.handoff.fileno()]
    assert woken == []                          # the giver is not woken for them
    for sock in [m.sock for m in moved] + pool.clients + [pool.listener.sock]:
        sock.close()


def test_accept_yields_each_connection_before_accepting_the_next():
    pool = Pool(waiting=0)
    address = pool.listener.sock.getsockname()
    ready = socket.create_connection(address)
    ready.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
    silent = socket.create_connection(address)
    accepted = pool.table.accept(pool.listener)
    first = next(accepted)
    assert len(pool.conns) == 1                 # the second still in the backlog
    assert first.fill_waiting() and first.next_request().target == "/ready"
    first.close()
    pool.table.forget(first)
    second = next(accepted)
    pool.table.watch(second)                    # silent: watched in the loop
    assert list(accepted) == [] and pool.table.more is False   # backlog empty
    silent.sendall(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
    events = [fd for fd, _ in pool.poller.poll(1.0) if fd in pool.conns]
    assert events == [second.fd]
    pool.close(ready, silent, second.sock)


def test_the_pacer_is_asked_before_each_connection_of_a_batch():
    """A free peer holding none: this worker takes two of a burst, not the
    whole batch, and leaves the rest in the backlog for the peer."""
    now = time.monotonic()
    pool = Pool(waiting=0, read_peers=lambda: [(scoreboard.IDLE, 0, now, 0.0)])
    address = pool.listener.sock.getsockname()
    clients = [socket.create_connection(address) for _ in range(5)]
    taken = list(pool.table.accept(pool.listener))
    assert len(taken) == 2 and pool.table.more is False
    left = [pool.listener.sock.accept()[0] for _ in range(3)]   # still waiting
    pool.close(*clients, *left, *[c.sock for c in taken])


def test_the_pair_is_taken_as_many_as_asked_each_resumed():
    """Under load the busy peer keeps refilling the pair: a worker takes a
    bounded number per wakeup; each comes back as it left, bytes included."""
    pool = Pool(waiting=6)
    pool.tick()
    assert pool.conns == {}
    taken = pool.table.adopt(1) + pool.table.adopt(3)
    assert len(taken) == 4
    assert all(c.state is IDLE and c.fill_waiting() for c in taken)
    assert [c.next_request().target for c in taken] == ["/"] * 4
    rest = pool.table.adopt(100)
    assert len(rest) == 2
    pool.close(*[c.sock for c in taken + rest])


def test_a_stopping_worker_passes_nothing_on():
    """It no longer takes from the pair, and when every worker stops nobody
    does: what it passed on would be closed unanswered at exit."""
    pool = Pool(waiting=3)
    pool.longcall.may_pass = False
    pool.tick()
    pool.tick()
    assert pool.handoff.take(100) == [] and len(pool.conns) == 3
    pool.close()
