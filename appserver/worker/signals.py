"""What signals mean to a worker, and its graceful stop.

Mixed into ``Worker``. The queued signals (TERM: graceful stop; INT and
QUIT: quick exit; USR1: reopen logs) are acted on by the event loop
(``_signals``). Three handlers act at once, because they concern the app call
in progress: USR2 from the arbiter on a timeout (``faulthandler`` dumps every
thread's stack from C, then ``_on_timeout`` unwinds the app), URG for a slow
request (log its stack and carry on) and ALRM (``worker.table``). A graceful
stop takes what the backlog holds, keeps connections on which a request has
already arrived, closes the idle ones, and lets the loop finish the rest.
"""

import faulthandler
import logging
import signal
import time

from appserver import hooks, logs, scoreboard
from appserver.connection import IDLE
from appserver.observe import STACK_SIGNAL, log_stack
from appserver.wsgi.handler import WorkerTimeout

log = logging.getLogger("appserver")


class WorkerSignals:
    """Signal handling and stopping of ``Worker``; see the module comment."""

    def _register_stack_dump(self):
        """On SIGUSR2 (sent by the arbiter on a timeout), dump every thread's
        stack to the error log from C, so it works even when the app is stuck
        in C code; then the Python handler (chained) unwinds the app."""
        stream = logs.error_stream()
        if stream is not None:
            faulthandler.register(signal.SIGUSR2, file=stream, all_threads=True,
                                  chain=True)
        signal.signal(STACK_SIGNAL, self._on_stack_request)

    def _on_timeout(self, signum, frame):
        if self.in_app:
            hooks.call(self.cfg.hooks, "worker_abort", self)
            raise WorkerTimeout()

    def _on_stack_request(self, signum, frame):
        """Log where the running request is (slow-request), and carry on."""
        log_stack(frame, self.in_app)

    def _signals(self):
        self.signals.drain_pipe()
        while True:
            signum = self.signals.pop()
            if signum is None:
                return
            if signum == signal.SIGTERM:
                self._begin_stop(time.monotonic())
            elif signum in (signal.SIGINT, signal.SIGQUIT):
                hooks.call(self.cfg.hooks, "worker_int", self)
                raise SystemExit(0)
            elif signum == signal.SIGUSR1:
                logs.reopen()
                self._register_stack_dump()

    def _begin_stop(self, now):
        """Graceful stop: take what the backlog holds, close idle connections
        (but serve those on which a request has already arrived)."""
        if not self.alive:
            return
        for listener in self.listeners.values():
            while self._accept(listener, self.cfg.max_connections):
                pass
        self._accept_off()
        self.alive = False
        self.stop_by = now + self.cfg.graceful_timeout
        self.slot.set_state(scoreboard.DRAINING, now)
        readable = {fd for fd, _ in self.poller.poll(0)}
        for conn in [c for c in self.conns.values() if c.state == IDLE]:
            if conn.fd not in readable:
                self._drop(conn)
