"""The connection table: the connections one worker holds, and how they
enter and leave it.

Contract: ``ConnectionTable`` owns the ``fd -> Connection`` map, their
registration in the worker's epoll set, and the intake (the listening
sockets and the hand-off pair in that set while ``accepting``). ``accept``
takes new connections (batched, honouring ``max-connections``: the idle
keep-alive connection nearest its deadline makes room, and accepting pauses
while every connection is busy; left for a moment to a free worker holding
fewer connections, ``appserver.worker.balance``). ``hold`` pauses the intake
while the worker can take no request (every thread of ``--threads`` busy). ``adopt`` takes
connections another worker passed on, exactly in the state they left.
``expired`` lists those past their state's deadline, ``pass_on`` and
``pass_on_waiting`` hand connections to the pair, ``forget`` takes a
connection that closed or left out. The table never serves a request and
never calls into the worker: ``accept`` and ``adopt`` return the connections
that have work for the worker to do. It changes no connection's state
except through the connection's own methods.
"""

import logging
import os
import select
import time

from appserver.net.connection import (AWAIT_HEAD, BETWEEN_REQUESTS, CLOSED_STATE, IDLE, PASSED_ON,
                                      SENDING, SERVING)
from appserver.worker.balance import MARGIN, AcceptPacer

log = logging.getLogger("appserver")

ACCEPT_BATCH = 16           # connections accepted per wakeup at most
ADOPT_BATCH = 16            # connections taken from the pair per wakeup at most
_IN = select.EPOLLIN


class ConnectionTable:
    """One worker's connections; see the module comment."""

    def __init__(self, poller, listeners, handoff, make_connection, slot,
                 max_connections, read_peers=lambda: (), uwsgi_peers=None):
        self.poller = poller
        self.listeners = listeners          # fd -> Listener
        self.handoff = handoff
        self.make_connection = make_connection  # (sock, peer, listener) -> Connection
        self.slot = slot
        self.max_connections = max_connections
        self.read_peers = read_peers
        self.uwsgi_peers = uwsgi_peers
        self.conns = {}
        self.watched = set()                # fds in the epoll set
        self.accepting = False
        self.full = False                   # intake paused: max-connections
        self.held = False                   # intake paused: no thread free
        self.more = False                   # the last accept may have left more
        self.pacer = AcceptPacer()

    def __len__(self):
        return len(self.conns)

    # -- intake --------------------------------------------------------------

    def accept_on(self):
        """Take new connections: from the listeners and from busy workers.

        Not EPOLLEXCLUSIVE: the kernel would always pick the same worker's
        epoll set, busy or not, and an idle worker would sleep while a
        connection waits for a busy one. Each free worker is woken instead
        (one wins the accept; the others find nothing, cheaply)."""
        if not self.accepting and not self.held:
            for fd in list(self.listeners) + [self.handoff.fileno()]:
                self.poller.register(fd, _IN)
            self.accepting = True

    def accept_off(self):
        self.full = self.held = False
        self._intake_off()

    def hold(self, on):
        """Pause the intake (``on``) while no request can be taken, or take
        again; for a worker that still takes work."""
        if on:
            self._intake_off()
        self.held = on
        if not on and not self.full:
            self.accept_on()

    def _intake_off(self):
        if self.accepting:
            for fd in list(self.listeners) + [self.handoff.fileno()]:
                self.poller.unregister(fd)
            self.accepting = False

    def accept(self, listener, batch=ACCEPT_BATCH):
        """Accept up to ``batch`` connections, yielding each one, not yet
        watched, before accepting the next: the worker serves a request that
        came with it at once (while the rest wait in the backlog, where a
        free worker may take them), then ``watch``es it if still open.
        ``more`` tells afterwards whether the backlog may hold more.

        The pacer is asked before each one, not once per batch: a burst of
        keep-alive connections would otherwise go out a batch at a time, and
        a worker that won more batches would keep the extra clients for good
        (their requests served less often than the other workers' clients)."""
        conns = self.conns
        self.more = False
        for _ in range(batch):
            if not self.accepting:
                return                      # stopped while serving the last one
            if len(conns) >= MARGIN and self._defer_accept():
                return
            full = len(conns) >= self.max_connections
            if full and not any(c.state is IDLE for c in conns.values()):
                self.accept_off()
                self.full = True            # resumes when a connection leaves
                return
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("accept() failed: %s", exc)
                return
            allowed = self.uwsgi_peers
            if allowed is not None and (peer[0] if peer else "") not in allowed:
                log.info("client %s:%s: not in uwsgi-allow-ips; closed", *peer[:2])
                sock.close()
                continue
            if full:
                self._make_room()
            conn = self._add(self.make_connection(sock, peer, listener))
            if conn.start(time.monotonic()):
                yield conn
            else:
                self.forget(conn)
        self.more = True

    def _defer_accept(self):
        """True to leave the waiting connections to a lighter free worker
        for now (it was woken too); this one lets it run first."""
        if self.pacer.defer(len(self.conns), self.read_peers, time.monotonic()):
            os.sched_yield()
            return True
        return False

    def adopt(self, limit=ADOPT_BATCH):
        """Take up to ``limit`` connections waiting in the pair, each
        resumed where the worker that passed it on left it; returns them.
        Bounded, because under load the pair need never empty: the busy
        peer, and this worker itself during a long call, keep passing
        connections into it."""
        adopted = []
        for moved in self.handoff.take(limit):
            listener = self.listeners.get(moved.listener_fd)
            if listener is None:
                moved.sock.close()
                continue
            conn = self._add(self.make_connection(moved.sock, moved.peer, listener))
            conn.resume(moved.state, moved.since, moved.head, moved.dest)
            self.watch(conn)
            adopted.append(conn)
        return adopted

    def _add(self, conn):
        self.conns[conn.fd] = conn
        self.slot.set_connections(len(self.conns))
        return conn

    def watch(self, conn):
        """Wait for ``conn`` in the loop, if it is still open and not in the
        hands of a pool thread."""
        if (conn.open and conn.fd not in self.watched and conn.state is not SERVING
                and self.conns.get(conn.fd) is conn):
            self.poller.register(conn.fd, select.EPOLLOUT if conn.wants_write else _IN)
            self.watched.add(conn.fd)

    def unwatch(self, conn):
        """Stop waiting for ``conn`` in the loop: a pool thread uses its
        socket, or its request waits for a free thread."""
        if conn.fd in self.watched:
            self.poller.unregister(conn.fd)
            self.watched.discard(conn.fd)

    def rewatch(self, conn):
        """Follow a FRONT connection's handshake direction (in or out)."""
        if conn.fd in self.watched:
            self.poller.modify(conn.fd, select.EPOLLOUT if conn.wants_write else _IN)

    # -- leaving -------------------------------------------------------------

    def forget(self, conn):
        """Take out a connection that closed or was passed on. One passed on
        lives on elsewhere (and in flight), so it leaves the epoll set
        explicitly before this worker closes its descriptor."""
        if self.conns.get(conn.fd) is conn:
            del self.conns[conn.fd]
            self.slot.set_connections(len(self.conns))
            if conn.fd in self.watched:
                self.watched.discard(conn.fd)
                if conn.state is PASSED_ON:
                    try:
                        self.poller.unregister(conn.fd)
                    except (OSError, ValueError):
                        pass
            if self.full:
                self.accept_on()
                self.full = False
        if conn.state is not CLOSED_STATE:
            conn.close()

    def pass_on(self, conn):
        """Hand ``conn`` to another worker; False if it must stay."""
        if conn.pass_on(self.handoff):
            self.forget(conn)
            return True
        return False

    def pass_on_waiting(self, current):
        """Pass on the connections, other than ``current``, on which a
        request is waiting (readable, or bytes already buffered)."""
        waiting = {fd for fd, _ in self.poller.poll(0)}
        for conn in [c for c in self.conns.values()
                     if c.state in BETWEEN_REQUESTS and c is not current and not c.tls
                     and (c.fd in waiting or c.unread)]:
            self.pass_on(conn)

    def between_requests(self):
        """The connections that are between requests (IDLE, AWAIT_HEAD)."""
        return [c for c in self.conns.values() if c.state in BETWEEN_REQUESTS]

    def close_sending(self):
        """Close the connections the loop is sending a file on (SENDING):
        each file's ``close()`` (a ``wsgi.file_wrapper``'s iterable's too)."""
        for conn in [c for c in self.conns.values() if c.state is SENDING]:
            self.forget(conn)

    def expired(self, now):
        """The connections past their state's deadline."""
        return [c for c in self.conns.values() if c.expired(now)]

    def readable_now(self):
        """The fds the epoll set reports readable at this moment."""
        return {fd for fd, _ in self.poller.poll(0)}

    def _make_room(self):
        """Close the idle keep-alive connection closest to its deadline."""
        idle = [c for c in self.conns.values() if c.state is IDLE]
        if idle:
            self.forget(min(idle, key=lambda c: c.deadline))

    def close_all(self):
        for conn in list(self.conns.values()):
            self.forget(conn)


def waiting_head(conn):
    """True when a new connection's request came with it: read it now."""
    return conn.state is AWAIT_HEAD and not conn.tls and conn.fill_waiting()
