"""How connections enter a worker, and leave it for another.

Mixed into ``Worker``. New connections come from the listening sockets
(``_accept``, batched, honouring ``max-connections``: the idle keep-alive
connection nearest its deadline makes room, and accepting pauses while every
connection is busy; left for a moment to a free worker holding fewer
connections, ``appserver.worker.balance``; a request that came with its connection
is served at once, and the connection enters the epoll set only if it stays
open) and from the handoff pair (``_adopt``:
one connection a busy worker passed on, served at once and ahead of this
worker's own). While this worker's app call runs
long, ``_on_long_request`` (a repeating timer, see there) passes on the connections on
which a request is waiting (``appserver.worker.handoff``).
"""

import logging
import os
import select
import signal
import time

from appserver.worker.balance import MARGIN
from appserver.connection import HEAD, IDLE
from appserver.worker.handoff import HANDOFF_AFTER

log = logging.getLogger("appserver")

ACCEPT_BATCH = 16           # connections accepted per wakeup at most
ADOPT_BATCH = 16            # connections taken from the pair per wakeup at most
_IN = select.EPOLLIN


class Intake:
    """Connection intake of ``Worker``; see the module comment."""

    def _on_long_request(self, signum, frame):
        """The app call runs long: let a free worker serve those of our
        connections on which a request is waiting. Connections with nothing
        to read stay: they are ours again as soon as the app returns.

        The timer ticks every ``HANDOFF_TICK`` from the first request that
        finds other connections here, and stops on a tick between requests:
        under load it is armed once per quiet spell, not per request.

        A tick can arrive while the previous one is still passing connections
        on (a busy machine may not run this process for longer than a tick);
        Python then runs this handler inside itself. That tick does nothing:
        it would pass on again the connections the first one was sending,
        and two workers would read one socket.

        Only a call that an earlier tick saw running too counts as long. A
        worker that merely waited for the CPU (its peer on the same core ran
        a time slice) finds a quick call past ``HANDOFF_AFTER`` on the first
        tick it gets: it would hand nearly all its busy keep-alive
        connections to that peer at once, for good, and their clients would
        then be served a fraction as often as the peer's others. A call
        really running long is seen by the tick before, ``HANDOFF_TICK``
        earlier, as before.

        A stopping worker passes nothing on: it no longer takes from the
        pair, and when every worker stops, nobody would; the requests it
        still owes are served after the call, before it exits.

        Each tick interrupts a send or receive the request is blocked in,
        which restarts its kernel timeout: a tick that finds the call past
        its bound (``Connection.overdue``) raises the timeout into it."""
        if self.handing_off:
            return
        if self.in_app and self.current is not None:
            error = self.current.overdue(time.monotonic())
            if error is not None:
                raise error         # into the blocked send or receive
        if not self.in_app:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.ticking = False
            return
        if not self.alive:
            return      # stopping: this worker no longer takes from the pair
        started = self.app_started
        seen, self.tick_saw = self.tick_saw, started
        if seen != started or time.monotonic() - started < HANDOFF_AFTER:
            return
        self.handing_off = True
        try:
            self._pass_on_waiting()
        finally:
            self.handing_off = False

    def _pass_on_waiting(self):
        waiting = {fd for fd, _ in self.poller.poll(0)}
        for conn in [c for c in self.conns.values()
                     if c.state in (IDLE, HEAD) and c is not self.current and not c.tls
                     and (c.fd in waiting or c.parser.buffered)]:
            if self.handoff.give(conn):
                self._drop(conn, handed_on=True)

    def _accept_on(self):
        """Take new connections: from the listeners and from busy workers.

        Not EPOLLEXCLUSIVE: the kernel would always pick the same worker's
        epoll set, busy or not, and an idle worker would sleep while a
        connection waits for a busy one. Each free worker is woken instead
        (one wins the accept; the others find nothing, cheaply)."""
        if not self.accepting and self.alive:
            for fd in list(self.listeners) + [self.handoff.fileno()]:
                self.poller.register(fd, _IN)
            self.accepting = True

    def _accept_off(self):
        if self.accepting:
            for fd in list(self.listeners) + [self.handoff.fileno()]:
                self.poller.unregister(fd)
            self.accepting = False

    def _adopt_batch(self):
        """Serve up to ``ADOPT_BATCH`` connections waiting in the pair before
        our own: each has waited at least ``HANDOFF_AFTER`` already, ours
        less. Requests are so served about in the order they came, whichever
        worker held them, and none waits behind younger ones (a worker that
        served its own new requests first would leave the oldest waiting
        longest). Bounded, because under load the pair need never empty: the
        busy peer, and this worker itself during a long call, keep passing
        connections into it, and a worker draining it to the end returned to
        its loop only when the load stopped, leaving new connections in the
        backlog for seconds."""
        for _ in range(ADOPT_BATCH):
            if not (self.accepting and self._adopt()):
                return

    def _adopt(self):
        """Take one connection a busy worker handed over and carry on with
        it (True), or find the pair empty (False); the next one waits in the
        pair for whichever worker is free then."""
        for moved in self.handoff.take(1):
            listener = self.listeners.get(moved.listener_fd)
            if listener is None:
                moved.sock.close()
                continue
            conn = self._register(moved.sock, moved.peer, listener)
            conn.state, conn.deadline = moved.state, moved.deadline
            if moved.head:
                conn.parser.feed(moved.head)
            # It was handed over because a request waits on it: serve it now,
            # ahead of our own, rather than after another turn of the loop.
            if conn.fill_waiting() or moved.head:
                self._process(conn)
            return True
        return False

    def _defer_accept(self):
        """True to leave the waiting connections to a lighter free worker
        for now (it was woken too); this one lets it run first."""
        if self.pacer.defer(len(self.conns), self.read_peers, time.monotonic()):
            os.sched_yield()
            return True
        return False

    def _accept(self, listener, batch=ACCEPT_BATCH):
        """Accept up to ``batch`` connections; True if the backlog may hold more.

        The pacer is asked before each one, not once per batch: a burst of
        keep-alive connections would otherwise go out a batch at a time, and
        a worker that won more batches would keep the extra clients for good
        (their requests served less often than the other workers' clients)."""
        cfg, conns = self.cfg, self.conns
        for _ in range(batch):
            if len(conns) >= MARGIN and self._defer_accept():
                return False
            full = len(conns) >= cfg.max_connections
            if full and not any(c.state == IDLE for c in conns.values()):
                self._accept_off()          # resumes when a connection closes
                return False
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                log.warning("accept() failed: %s", exc)
                return False
            allowed = self.uwsgi_peers
            if allowed is not None and (peer[0] if peer else "") not in allowed:
                log.info("client %s:%s: not in uwsgi-allow-ips; closed", *peer[:2])
                sock.close()
                continue
            if full:
                self._make_room()
            conn = self._register(sock, peer, listener, poll=False)
            if not self._open(conn):
                self._drop(conn)
                continue
            conn.deadline = time.monotonic() + cfg.header_timeout
            self._start_serving(conn)
        return True

    def _start_serving(self, conn):
        """Serve a new connection's request at once when it came with the
        connection (it usually has), then watch it in the loop if it stays
        open: a connection closed after one response never enters the epoll
        set."""
        if conn.state == HEAD and not conn.tls and conn.fill_waiting():
            self._process(conn)
        if self.conns.get(conn.fd) is conn:
            self.poller.register(conn.fd, _IN)

    def _register(self, sock, peer, listener, poll=True):
        fd = listener.fileno()
        conn = self.connection(sock, peer, listener, self.limits, self.cfg.read_timeout,
                               self.cfg.send_timeout, self.inherited[fd])
        conn.base = self.bases[fd]
        self.conns[conn.fd] = conn
        self.slot.set_connections(len(self.conns))
        if poll:
            self.poller.register(conn.fd, _IN)
        return conn

    def _make_room(self):
        """Close the idle keep-alive connection closest to its deadline."""
        idle = [c for c in self.conns.values() if c.state == IDLE]
        if not idle:
            return False
        self._drop(min(idle, key=lambda c: c.deadline))
        return True
