"""What runs while the app holds the worker: the long-call module.

Contract: a sync worker inside an app call cannot run its loop, so the few
things that must happen during the call happen here, in signal handlers,
and nowhere else in the worker:

- the hand-off tick (SIGALRM every ``HANDOFF_TICK`` while other connections
  are held): once a call has run past ``HANDOFF_AFTER``, the connections on
  which a request waits are passed to a free worker (``appserver.worker.handoff``);
- read/send deadlines: each tick interrupts the blocking receive or send the
  request is in, which restarts its kernel timeout, so the tick raises the
  ``read-timeout``/``send-timeout`` error into a call that is past its bound
  (``Connection.overdue``);
- the request timeout: SIGUSR2 from the arbiter (after ``faulthandler``
  dumped every thread's stack from C) raises ``WorkerTimeout`` into the app;
- ``slow-request`` (``STACK_SIGNAL``): log the current stack and carry on;
- INT, QUIT (quick stop): ``on_quit`` exits from inside the call, as
  Gunicorn's sync worker does, so the app's iterable is closed on the way
  out (PEP 3333); between calls they are only recorded for the loop.

These must act inside the blocked call, which is why they are signal
handlers and not loop steps. Between calls every handler does nothing but
stop the timer. ``begin`` and ``end`` bracket each app call.
"""

import faulthandler
import signal
import time

from appserver.observe import logs
from appserver.observe.observer import log_stack
from appserver.signals import STACK_SIGNAL
from appserver.worker.handoff import HANDOFF_AFTER, HANDOFF_TICK
from appserver.wsgi.handler import WorkerTimeout


class LongCall:
    """The app call in progress, and the handlers that act inside it."""

    def __init__(self, table, on_abort=lambda: None, on_quit=lambda: None):
        self.table = table
        self.on_abort = on_abort    # the worker_abort hook
        self.on_quit = on_quit      # INT, QUIT during a call: raises SystemExit
        self.recorded = {}          # signum -> the handler it had (the loop's queue)
        self.current = None         # the connection whose request the app runs
        self.in_app = False
        self.started = 0.0          # when the current call began (monotonic)
        self.tick_saw = None        # the ``started`` the last tick saw
        self.ticking = False        # the timer runs
        self.passing = False        # a tick is passing connections on
        self.may_pass = True        # False once the worker stops taking work
        self.stacks = None          # with threads: logs the slow requests' stacks

    def install(self):
        signal.signal(signal.SIGUSR2, self._on_timeout)
        signal.signal(signal.SIGALRM, self._on_tick)
        for signum in (signal.SIGINT, signal.SIGQUIT):
            self.recorded[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_quit)
        self.register_stack_dump()

    def register_stack_dump(self):
        """On SIGUSR2 (sent by the arbiter on a timeout), dump every thread's
        stack to the error log from C, so it works even when the app is stuck
        in C code; then the Python handler (chained) unwinds the app."""
        stream = logs.error_stream()
        if stream is not None:
            faulthandler.register(signal.SIGUSR2, file=stream, all_threads=True,
                                  chain=True)
        signal.signal(STACK_SIGNAL, self._on_stack_request)

    def begin(self, conn, now):
        """An app call starts for ``conn``'s request."""
        self.started = now
        if not self.ticking and len(self.table.conns) > 1:
            signal.setitimer(signal.ITIMER_REAL, HANDOFF_TICK, HANDOFF_TICK)
            self.ticking = True
        self.current, self.in_app = conn, True

    def end(self, now):
        """The call returned; True if it ran long (the loop's list of ready
        connections is then stale)."""
        self.in_app = False
        return now - self.started >= HANDOFF_AFTER

    def _on_timeout(self, signum, frame):
        if self.in_app:
            self.on_abort()
            raise WorkerTimeout()

    def _on_quit(self, signum, frame):
        recorded = self.recorded.get(signum)
        if callable(recorded):
            recorded(signum, frame)     # the loop's record, for between calls
        if self.in_app:
            self.on_quit()

    def _on_stack_request(self, signum, frame):
        """Log where the running request is (slow-request), and carry on."""
        if self.stacks is not None:
            self.stacks()
            return
        log_stack(frame, self.in_app)

    def _on_tick(self, signum, frame):
        """The hand-off tick; see the module comment.

        The timer ticks from the first request that finds other connections
        here, and stops on a tick between requests: under load it is armed
        once per quiet spell, not per request.

        A tick can arrive while the previous one is still passing
        connections on (a busy machine may not run this process for longer
        than a tick); Python then runs this handler inside itself. That tick
        does nothing: it would pass on again the connections the first one
        was sending, and two workers would read one socket.

        Only a call that an earlier tick saw running too counts as long. A
        worker that merely waited for the CPU finds a quick call past
        ``HANDOFF_AFTER`` on the first tick it gets: it would hand nearly
        all its busy keep-alive connections to its peer at once, for good.

        A worker that stopped taking work passes nothing on during a call:
        it no longer takes from the pair, and when every worker stops,
        nobody would; a retiring one passes its connections on right after
        the call."""
        if self.passing:
            return
        if self.in_app and self.current is not None:
            error = self.current.overdue(time.monotonic())
            if error is not None:
                raise error         # into the blocked send or receive
        if not self.in_app:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.ticking = False
            return
        if not self.may_pass:
            return
        started = self.started
        seen, self.tick_saw = self.tick_saw, started
        if seen != started or time.monotonic() - started < HANDOFF_AFTER:
            return
        self.passing = True
        try:
            self.table.pass_on_waiting(self.current)
        finally:
            self.passing = False
