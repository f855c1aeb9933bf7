"""How a worker's connections end: closed after a response, rejected, dropped,
or swept at their deadline.

Mixed into ``Worker``. ``_close`` ends a connection after its response, and
``_reject`` after an error answer: when the client may still be sending, the
connection first drains (``_drain``, from the loop) for up to
``DRAIN_SECONDS``. ``_drop`` forgets and closes one at once, and resumes
accepting if a full worker had stopped. ``_sweep`` runs every
``SWEEP_INTERVAL``: it ends connections past their deadline (a head still
arriving gets 408), closes everything at ``graceful-timeout``, and begins a
graceful stop when the arbiter has gone away.
"""

import logging
import os
import time

from appserver.connection import HEAD, timeout_error

log = logging.getLogger("appserver")

SWEEP_INTERVAL = 0.25       # how often deadlines are checked, seconds
DRAIN_SECONDS = 2.0         # how long a closing connection may keep sending


class ConnectionEnds:
    """Ending connections for ``Worker``; see the module comment."""

    def _drain(self, conn):
        if not conn.drain():
            self._drop(conn)

    def _reject(self, conn, err):
        log.info("client %s: %s (%d %s)", _peer(conn), err.detail, err.status, err.reason)
        self.observer.rejected(conn, err)
        if conn.start_closing(err):
            conn.deadline = time.monotonic() + DRAIN_SECONDS
        else:
            self._drop(conn)

    def _close(self, conn):
        """Close after a response; drain first if the client sent more."""
        if conn.parser.buffered and conn.start_closing():
            conn.deadline = time.monotonic() + DRAIN_SECONDS
        else:
            self._drop(conn)

    def _drop(self, conn, handed_on=False):
        """Forget and close a connection. Closing its only descriptor takes
        it out of the epoll set too; one ``handed_on`` to another worker lives
        on there (and in flight), so it is taken out first."""
        if self.conns.pop(conn.fd, None) is not None:
            self.slot.set_connections(len(self.conns))
            if handed_on:
                try:
                    self.poller.unregister(conn.fd)
                except (OSError, ValueError):
                    pass
        conn.close()
        if not self.accepting and self.alive:
            self._accept_on()

    def _sweep(self, now):
        self.next_sweep = now + SWEEP_INTERVAL
        for conn in [c for c in self.conns.values() if c.deadline <= now]:
            if conn.state == HEAD and conn.parser.buffered:
                self._reject(conn, timeout_error())
            else:
                self._drop(conn)
        if self.stop_by is not None and now >= self.stop_by:
            log.info("Worker %d: graceful-timeout passed, closing %d connections",
                     os.getpid(), len(self.conns))
            for conn in list(self.conns.values()):
                self._drop(conn)
        if os.getppid() != self.ppid:
            log.warning("Worker %d: the arbiter went away; stopping", os.getpid())
            self._begin_stop(now)


def _peer(conn):
    return "%s:%s" % conn.peer[:2] if conn.peer else "unix"
