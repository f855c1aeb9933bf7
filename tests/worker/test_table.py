"""The handoff timer of ``appserver.worker.table`` over real sockets: every
connection with a request waiting is passed on once, also when a second
tick arrives while the first is still passing them on (Python runs the
handler inside itself then). Passed twice, one socket would be read by two
workers: a request's body parsed as a head (414), EBADF inside the app. A
connection passed on also leaves the giver's epoll set (closing its
descriptor does not do that while the socket lives on in the pair). A new
connection whose request came with it is served at once and, closed after
its response, never enters the epoll set; one still silent is watched."""
import os
import select
import socket
import time
import types

import pytest

from appserver import scoreboard
from appserver.worker.balance import AcceptPacer
from appserver.connection import HEAD, IDLE, Connection
from appserver.worker.handoff import HANDOFF_AFTER, Handoff, create_pair
from appserver.http.parser import Limits
from appserver.sockets import Listener
from appserver.worker import Worker
from appserver.worker.table import ADOPT_BATCH, Intake


class Slot:
    def set_connections(self, count):
        pass


class Pool(Intake):
    """The parts of a worker the timer uses, with real sockets."""

    def __init__(self, waiting):
        self.poller = select.epoll()
        self.handoff = Handoff(create_pair())
        self.conns, self.clients, self.inodes = {}, [], []
        listening = socket.create_server(("127.0.0.1", 0))
        self.listener = Listener(listening, "tcp", listening.getsockname())
        self.current, self.slot = None, Slot()
        self.in_app, self.handing_off, self.ticking = True, False, True
        self.accepting = self.alive = True
        self.app_started = time.monotonic() - 10 * HANDOFF_AFTER   # a long call
        self.tick_saw = self.app_started            # that an earlier tick saw
        for _ in range(waiting):
            ours, theirs = socket.socketpair()
            conn = Connection(ours, "", self.listener, Limits(), 5.0, 5.0)
            self.inodes.append(os.fstat(ours.fileno()).st_ino)
            conn.state = IDLE
            self.conns[conn.fd] = conn
            self.poller.register(conn.fd, select.EPOLLIN)
            theirs.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")   # a request waits
            self.clients.append(theirs)

    _drop = Worker._drop


def test_a_tick_during_a_tick_passes_nothing_twice():
    pool = Pool(waiting=6)
    give = pool.handoff.give
    nested = []

    def give_with_a_second_tick(conn):
        if not nested:                  # the next tick fires mid-handoff
            nested.append(True)
            pool._on_long_request(None, None)
            # and the descriptors it freed are reused, as a busy worker does
            nested.extend(socket.socketpair() for _ in range(6))
        return give(conn)

    pool.handoff.give = give_with_a_second_tick
    pool._on_long_request(None, None)
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
    pool._on_long_request(None, None)
    pool._on_long_request(None, None)    # the next tick finds them gone
    moved = pool.handoff.take(100)
    assert sorted(os.fstat(m.sock.fileno()).st_ino for m in moved) == sorted(pool.inodes)
    for sock in [m.sock for m in moved] + pool.clients + [pool.listener.sock]:
        sock.close()


@pytest.mark.parametrize("earlier", ["none", "previous call"])
def test_a_call_no_earlier_tick_saw_is_not_long_yet(earlier):
    """The first tick a worker gets after waiting for the CPU finds a quick
    call past the bound: nothing moves until a later tick sees it again."""
    pool = Pool(waiting=3)
    pool.tick_saw = None if earlier == "none" else pool.app_started - 0.001
    pool._on_long_request(None, None)
    assert pool.handoff.take(100) == [] and len(pool.conns) == 3
    pool._on_long_request(None, None)           # still running: long now
    moved = pool.handoff.take(100)
    assert len(moved) == 3 and pool.conns == {}
    for sock in [m.sock for m in moved] + pool.clients + [pool.listener.sock]:
        sock.close()


def test_a_connection_passed_on_leaves_the_givers_epoll_set():
    pool = Pool(waiting=3)
    pool._on_long_request(None, None)
    moved = pool.handoff.take(100)
    for client in pool.clients:                 # more bytes for the new holder
        client.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(moved) == 3
    assert pool.poller.poll(0) == []            # the giver is not woken for them
    for sock in [m.sock for m in moved] + pool.clients + [pool.listener.sock]:
        sock.close()


class Acceptor(Pool):
    """A pool that accepts from its listener; ``_process`` answers each
    request it is given and closes the connection, as for Connection: close."""

    def __init__(self):
        super().__init__(waiting=0)
        self.listener.sock.setblocking(False)
        self.cfg = types.SimpleNamespace(max_connections=100, header_timeout=5.0,
                                         read_timeout=5.0, send_timeout=5.0)
        self.uwsgi_peers, self.connection, self.limits = None, Connection, Limits()
        self.bases = {self.listener.fileno(): {}}
        self.inherited = {self.listener.fileno(): 0}
        self.pacer, self.read_peers = AcceptPacer(), lambda: []
        self.served = []

    def _open(self, conn):
        conn.state = HEAD
        return True

    def _process(self, conn):
        self.served.append(conn.parser.next_event().target)
        self._drop(conn)


def test_a_request_that_came_with_its_connection_is_served_without_epoll():
    pool = Acceptor()
    address = pool.listener.sock.getsockname()
    ready = socket.create_connection(address)
    ready.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
    silent = socket.create_connection(address)
    pool._accept(pool.listener)
    assert pool.served == ["/ready"]            # at once, in the accept itself
    assert ready.recv(1) == b""                 # and closed
    assert pool.poller.poll(0) == []            # nothing registered is readable yet
    silent.sendall(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
    [(fd, _)] = pool.poller.poll(1.0)           # the silent one was registered
    assert pool.conns[fd].fill_waiting()
    for sock in [ready, silent, pool.listener.sock] + [c.sock for c in pool.conns.values()]:
        sock.close()


def test_the_pacer_is_asked_before_each_connection_of_a_batch():
    """A free peer holding none: this worker takes two of a burst, not the
    whole batch, and leaves the rest in the backlog for the peer."""
    pool = Acceptor()
    now = time.monotonic()
    pool.read_peers = lambda: [(scoreboard.IDLE, 0, now, 0.0)]
    pool._process = lambda conn: None           # keep-alive: they stay
    address = pool.listener.sock.getsockname()
    clients = [socket.create_connection(address) for _ in range(5)]
    assert pool._accept(pool.listener) is False
    assert len(pool.conns) == 2
    left = [pool.listener.sock.accept()[0] for _ in range(3)]   # still waiting
    for sock in clients + left + [pool.listener.sock] + [c.sock for c in pool.conns.values()]:
        sock.close()


def test_a_pair_that_never_empties_is_taken_a_batch_per_wakeup():
    """Under load the busy peer keeps refilling the pair; draining it to the
    end kept a worker from its loop (and its listeners) until the load
    stopped."""
    pool = Pool(waiting=0)
    taken = []

    def adopt():                    # one more is always waiting
        taken.append(1)
        return len(taken) < 1000
    pool._adopt = adopt
    pool._adopt_batch()
    assert len(taken) == ADOPT_BATCH
    pool.accepting = False          # stopping: nothing more is taken
    pool._adopt_batch()
    assert len(taken) == ADOPT_BATCH
    pool.listener.sock.close()


def test_a_stopping_worker_passes_nothing_on():
    """It no longer takes from the pair, and when every worker stops nobody
    does: what it passed on would be closed unanswered at exit."""
    pool = Pool(waiting=3)
    pool.alive = False
    pool._on_long_request(None, None)
    pool._on_long_request(None, None)
    assert pool.handoff.take(100) == [] and len(pool.conns) == 3
    for sock in pool.clients + [pool.listener.sock]:
        sock.close()
