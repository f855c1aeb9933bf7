"""The sync worker: boot, one event loop, graceful stop.

After ``fork`` the arbiter calls ``Worker.run()``, which never returns. The
worker loads the app (unless the arbiter preloaded it) and runs one epoll loop
over the listening sockets, its signal wakeup pipe, and every connection that
is only waiting on the network: sending its request head, idle between
keep-alive requests, or being drained after an error. A connection whose head
is complete is served synchronously (``wsgi.handler.handle``), then any
pipelined request already buffered, then it goes back to the loop. Deadlines
(``header-timeout``, ``keep-alive``, the drain bound) are swept a few times a
second; how connections end lives in ``worker.ends``. The heartbeat goes to the scoreboard on every turn and around every
request, so a request stuck in the app stops it. Each request goes through a
``RequestObserver`` (request id, access log, metrics, request hooks). On
``STACK_SIGNAL`` (``slow-request``) the worker logs its current stack and keeps
going; with ``reload`` it watches its own modules (``appserver.devreload``).

Before its first request head, a connection may have to send a PROXY protocol
header (``proxy-protocol``) and complete a TLS handshake; both are waited for
in the loop too, within ``header-timeout`` (``worker.front``). A TLS
connection is never handed to another worker: its session lives here.

Exit codes: 0 normal, ``EXIT_APP_LOAD`` when the app cannot be loaded,
``EXIT_WORKER_BOOT`` when anything else fails before the loop starts.
"""

import functools
import logging
import os
import random
import select
import signal
import time

from appserver import errors, hooks, process, scoreboard
from appserver.worker.balance import AcceptPacer
from appserver.connection import HEAD, IDLE, Connection
from appserver.io_timeouts import prepare_listener
from appserver.worker.handoff import HANDOFF_AFTER, HANDOFF_TICK, Handoff
from appserver.worker.ends import SWEEP_INTERVAL, ConnectionEnds
from appserver.worker.table import Intake
from appserver.worker.signals import WorkerSignals
from appserver.http.errors import HTTPError
from appserver.http.parser import CLOSED, NEED_DATA, Limits, Request
from appserver.observe import RequestObserver
from appserver.proctitle import set_title
from appserver.signals import SignalQueue
from appserver.worker.front import ConnectionFront
from appserver.wsgi.environ import base_environ
from appserver.wsgi.handler import WorkerTimeout, handle

log = logging.getLogger("appserver")

HEARTBEAT_INTERVAL = 1.0    # longest sleep of an idle worker, seconds
_IN = select.EPOLLIN


class Worker(Intake, ConnectionEnds, WorkerSignals, ConnectionFront):
    """One worker process; see the module comment."""

    def __init__(self, cfg, listeners, slot, app, access_log, number, handoff_pair,
                 nudge_fd, server=None):
        self.forked_at = time.monotonic()
        self.pid = os.getpid()
        self.server = server
        self.cfg = cfg
        self.nudge_fd = nudge_fd
        self.handoff = Handoff(handoff_pair)
        self.number = number
        self.listeners = {l.fileno(): l for l in listeners}
        self.slot = slot
        self.app = app
        self.access_log = access_log
        self.ppid = os.getppid()
        self.conns = {}
        self.alive = True
        self.accepting = False
        self.stop_by = None
        self.next_sweep = 0.0
        self.requests = 0
        self.max_requests = _max_requests(cfg)
        self.in_app = False
        self.idle_sleep = idle_sleep(cfg.timeout)
        self.counters = slot.counters()
        self.observer = RequestObserver(cfg, access_log, self.counters, self)
        self.watcher = None
        self.current = None         # the connection whose request the app runs
        self.app_started = 0.0      # when the current app call began (monotonic)
        self.tick_saw = None        # the app_started the last handoff tick saw
        self.ticking = False        # the handoff timer (SIGALRM) runs
        self.long_call = False      # the last app call ran past HANDOFF_AFTER
        self.handing_off = False    # _on_long_request is passing connections on
        self.pacer = AcceptPacer()
        # The slots peers may hold: the pool, and a reload's new workers too.
        self.read_peers = functools.partial(
            slot.peers, 2 * max(getattr(server, "desired", 0), number) + 2)

    def run(self):
        """Boot and serve until told to stop; exits the process."""
        code = 0
        try:
            self._boot()
            self._loop()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            log.exception("Worker %d crashed", os.getpid())
            code = errors.EXIT_ERROR
        finally:
            hooks.call(self.cfg.hooks, "worker_exit", self.server, self)
            logging.shutdown()
            os._exit(code)

    # -- boot ---------------------------------------------------------------

    def _boot(self):
        self.signals = SignalQueue((signal.SIGTERM, signal.SIGINT, signal.SIGQUIT,
                                    signal.SIGUSR1))
        for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH):
            signal.signal(signum, signal.SIG_IGN)       # the arbiter's business
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGUSR2, self._on_timeout)
        signal.signal(signal.SIGALRM, self._on_long_request)
        # The arbiter forks with its signals blocked; ours are in place now.
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        self._register_stack_dump()
        set_title("worker %d" % self.number, self.cfg)
        process.switch_user(self.cfg.user, self.cfg.group, self.cfg.initgroups)
        if self.app is None:
            self.app = _load_app(self.cfg.app)
        cfg = self.cfg
        self.limits = Limits(request_line=cfg.limit_request_line,
                             fields=cfg.limit_request_fields,
                             field_size=cfg.limit_request_field_size,
                             body=cfg.limit_request_body)
        self.connection, self.uwsgi_peers = _protocol(cfg)
        multiprocess = cfg.workers != 1
        self.bases = {fd: base_environ(l, multiprocess) for fd, l in self.listeners.items()}
        self.inherited = {fd: prepare_listener(l, cfg.read_timeout, cfg.send_timeout)
                          for fd, l in self.listeners.items()}
        self._boot_front(cfg)
        self.poller = select.epoll()
        self.poller.register(self.signals.read_fd, _IN)
        self._accept_on()
        try:
            hooks.call_strict(cfg.hooks, "post_worker_init", self)
        except hooks.HookFailed:
            raise SystemExit(errors.EXIT_WORKER_BOOT)
        if cfg.reload:
            from appserver.devreload import Watcher
            self.watcher = Watcher(cfg.reload_extra_file, self.counters.ask_reload)
        now = time.monotonic()
        self.counters.booted(now - self.forked_at)
        self.slot.set_state(scoreboard.IDLE, now)

    # -- loop ---------------------------------------------------------------

    def _loop(self):
        poll, conns, beat = self.poller.poll, self.conns, self.slot.beat
        control = set(self.listeners) | {self.signals.read_fd, self.handoff.fileno()}
        while self.alive or conns:
            now = time.monotonic()
            beat(now)
            timeout = SWEEP_INTERVAL if conns else self.idle_sleep
            events = poll(timeout)
            self.long_call = False
            ready = [fd for fd, _ in events if fd in control]
            if ready:
                self._control(ready)
            for fd, _ in events:
                if self.long_call:
                    break                   # the list is stale: poll again
                conn = conns.get(fd)
                if conn is not None:
                    self._readable(conn)
            now = time.monotonic()
            if now >= self.next_sweep:
                self._sweep(now)
                if self.watcher is not None:
                    self.watcher.check(now)

    def _control(self, ready):
        """Connections handed over, then signals, then new connections, all
        before this worker's own connections. Unlike theirs, these
        descriptors' readiness does not go stale during a long call, so one
        does not skip the rest: a new connection left in the backlog behind
        long call after long call (each poll's list cut short) waited seconds
        under a mixed load. The pair goes before a graceful stop, which stops
        taking from it: it may hold our own connections, passed on during
        the call just ended, whose requests the stopping worker still owes."""
        if self.handoff.fileno() in ready:
            self._adopt_batch()
        if self.signals.read_fd in ready:
            self._signals()
        for fd in ready:
            listener = self.listeners.get(fd)
            if listener is not None and self.accepting:
                self._accept(listener)

    def _readable(self, conn):
        step = self.steps.get(conn.state)      # CLOSING, PROXY_HEADER, ...
        if step is not None:
            step(conn)
            return
        conn.fill()
        self._process(conn)

    def _process(self, conn):
        """Turn buffered bytes into requests and serve them, pipelined ones too."""
        parser = conn.parser
        while True:
            try:
                event = parser.next_event()
            except HTTPError as err:
                self._reject(conn, err)
                return
            if event is NEED_DATA:
                if conn.state == IDLE and parser.buffered:
                    conn.state = HEAD
                    conn.deadline = time.monotonic() + self.cfg.header_timeout
                return
            if event is CLOSED:
                self._drop(conn)
                return
            if not isinstance(event, Request) or not self._serve(conn, event):
                self._close(conn)
                return

    def _serve(self, conn, request):
        """Run the app for one request; True if the connection stays open."""
        if request.dropped_headers:
            log.debug("dropped headers with '_' from %s: %s", conn.peer,
                      ", ".join(request.dropped_headers))
        slot = self.slot
        self.app_started = started = time.monotonic()
        slot.request_started(request.line.encode("latin-1"), started)
        if self.cfg.proctitle_requests:
            set_title("worker %d busy %s" % (self.number, request.line[:100]), self.cfg)
        if not self.alive:
            request.keep_alive = False
        if not self.ticking and len(self.conns) > 1:
            signal.setitimer(signal.ITIMER_REAL, HANDOFF_TICK, HANDOFF_TICK)
            self.ticking = True
        self.current, self.in_app = conn, True
        try:
            keep = handle(conn, request, self.app, conn.base, self.observer,
                          self.rewrite, started)
        except WorkerTimeout:
            self.in_app = False
            raise SystemExit(0)
        self.in_app = False
        now = time.monotonic()
        if now - self.app_started >= HANDOFF_AFTER:
            self.long_call = True
        slot.request_finished(now)
        if self.cfg.proctitle_requests:
            set_title("worker %d idle" % self.number, self.cfg)
        self.requests += 1
        if self.requests == self.max_requests:
            log.info("Worker %d served %d requests (max-requests); asking for a "
                     "replacement", os.getpid(), self.requests)
            slot.ask_recycle()
            try:
                os.write(self.nudge_fd, b"r")
            except OSError:
                pass
        if not keep:
            return False
        conn.state = IDLE
        conn.deadline = now + self.cfg.keep_alive
        return True

def idle_sleep(timeout):
    """How long an idle worker may wait in epoll: well within ``timeout``, or
    the arbiter would take its quiet sleep for a stuck request."""
    return min(HEARTBEAT_INTERVAL, timeout / 4.0) if timeout else HEARTBEAT_INTERVAL


def _load_app(spec):
    from appserver import loader
    try:
        return loader.load_app(spec)
    except errors.AppLoadError as exc:
        log.error("%s", exc)
        raise SystemExit(errors.EXIT_APP_LOAD)
    except Exception:
        log.exception("Worker failed to boot")
        raise SystemExit(errors.EXIT_WORKER_BOOT)


def _protocol(cfg):
    """The connection class for ``protocol``, and the uwsgi peers allowed."""
    if cfg.protocol != "uwsgi":
        return Connection, None
    from appserver.connection import UwsgiConnection
    from appserver.proxy import AllowList
    return UwsgiConnection, AllowList(cfg.uwsgi_allow_ips)


def _max_requests(cfg):
    if not cfg.max_requests:
        return float("inf")
    return cfg.max_requests + random.randint(0, max(0, cfg.max_requests_jitter))
