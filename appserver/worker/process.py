"""The worker process: boot, one event loop, signals, retiring, stop.

After ``fork`` the arbiter calls ``Worker.run()``, which never returns. The
worker loads the app (unless the arbiter preloaded it) and runs one epoll
loop over the listening sockets, the hand-off pair, its signal wakeup pipe
and every connection that is only waiting on the network. It holds its
connections in a ``ConnectionTable`` (``worker.table``) and its app calls in
a ``LongCall`` (``worker.longcall``); each ``Connection`` owns its state and
deadline, and the loop asks each one what it is waiting for and whether it
``expired``. A complete head is served synchronously (``wsgi.handler.handle``),
then any pipelined request already buffered. The heartbeat goes to the
scoreboard on every turn and around every request, so a request stuck in the
app stops it. Each request goes through a ``RequestObserver``.

With ``--threads N`` (N > 1) the loop does not call the app: a complete head
goes to a ``ThreadPool`` thread (``worker.threads``) while the loop goes on
accepting, reading and sending for the other connections. The loop still
owns every connection: it stops watching one while a thread serves it, and
takes it back when the thread is done (the pool's wake-up descriptor is in
the epoll set). While every thread is busy the worker takes no new
connection (``table.hold``); a request that arrives meanwhile on one of its
own waits (``waiting``), and is passed to a free worker after
``HANDOFF_AFTER``. The heartbeat is the loop's, so the ``timeout`` of each
request is kept here (``_overdue``): the request's thread stack is logged,
the 504 sent if nothing was, and the worker retires (see
``worker.threads``).

A request under a ``--static`` prefix is answered by the loop itself
(``appserver.static``), never by the app: the connection sends the file in
SENDING, a bit at each writable event, while the loop serves the others.
Such requests get access lines and metrics, but no request timeout, no
heartbeat slot state and no count towards max-requests. So does the file
an app returns through ``wsgi.file_wrapper`` (a real file that is the whole
declared body): the app call ends once the head is out, and the loop sends
the file in SENDING (``wsgi.handler.FileSend``), serving the other
connections meanwhile with no hand-off; the request ends (the iterable's
``close()``, the access line, the count towards max-requests) when the file
is out, the client is gone, or send-timeout passed. With threads, a thread
sends it.

Signal handlers only record (TERM: stop; INT, QUIT: exit now, after closing
the files the loop is sending, so their iterables' close() runs; USR1:
reopen logs); the loop acts. INT and QUIT during an app call are the
exception (``worker.longcall``): the worker exits from inside the call, and
the app's iterable is closed on the way out. How a worker ends:

- *Retiring* (max-requests reached, or TERM while some serving worker
  remains: reload, recycling, TTOU, WINCH or TERM of an old generation after
  USR2, a worker stopped by hand): it stops taking work, finishes the
  request in hand, and passes every connection between requests (IDLE, or
  AWAIT_HEAD with the bytes read so far) to a live worker through the
  hand-off pair; FRONT, DRAINING and LINGERING ones finish here and then go
  the same way. TLS connections cannot move: an idle one ends with a
  close_notify, one with a request gets its answer with ``Connection: close``.
  At max-requests it serves no further request and waits for the arbiter's
  TERM (after its replacement booted); on TERM it exits once it holds nothing.
- *Closing* (TERM when no serving worker remains: the arbiter's final stop,
  or WINCH without a new generation; the arbiter marks the slot ``last``):
  it takes what the backlog holds, closes idle connections on which nothing
  arrived, answers every request already received with ``Connection: close``.
- ``graceful-timeout`` bounds both; then whatever is left is closed.

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

from appserver import errors
from appserver.config import hooks
from appserver.config.settings import pool_threads
from appserver.deploy import daemon
from appserver.observe import logs, scoreboard
from appserver.net.connection import (AWAIT_HEAD, CLOSED_STATE, DRAINING, FRONT, IDLE, LINGERING,
                                  PASSED_ON, SENDING, Connection, Front, Timeouts,
                                  error_bytes)
from appserver.http.errors import GatewayTimeout, HTTPError
from appserver.http.parser import Limits
from appserver.net.io_timeouts import ClientError, prepare_listener
from appserver.observe.observer import RequestObserver
from appserver.observe.proctitle import set_title, worker_role
from appserver.signals import SignalQueue
from appserver.worker.handoff import HANDOFF_AFTER, HANDOFF_TICK, Handoff
from appserver.worker.longcall import LongCall
from appserver.worker.table import ADOPT_BATCH, ConnectionTable, waiting_head
from appserver.wsgi.environ import base_environ, build_environ
from appserver.wsgi.handler import UNREAD_BODY_LIMIT, WorkerTimeout, handle

log = logging.getLogger("appserver")

HEARTBEAT_INTERVAL = 1.0    # longest sleep of an idle worker, seconds
SWEEP_INTERVAL = 0.25       # how often deadlines are checked, seconds
RETRY_INTERVAL = 0.005      # a retiring worker retries a full pair this often
_IN = select.EPOLLIN


class Worker:
    """One worker process; see the module comment."""

    def __init__(self, cfg, listeners, slot, app, access_log, number, handoff_pair,
                 nudge_fd, server=None, desired=0):
        self.forked_at = time.monotonic()
        self.pid = os.getpid()
        self.server = server
        self.cfg = cfg
        self.nudge_fd = nudge_fd
        self.handoff = Handoff(handoff_pair)
        self.number = number
        self.listeners = {listener.fileno(): listener for listener in listeners}
        self.slot = slot
        self.app = app
        self.access_log = access_log
        self.ppid = os.getppid()
        self.taking = True          # accepting and adopting new work
        self.handing_over = False   # retiring: connections go to live workers
        self.exiting = False        # told to stop: exit once nothing is held
        self.quitting = False       # INT, QUIT: exiting now
        self.stop_by = None
        self.next_sweep = 0.0
        self.requests = 0
        self.max_requests = _max_requests(cfg)
        self.titles = cfg.proctitle_requests    # a title per request (read per request)
        self.idle_sleep = idle_sleep(cfg.timeout)
        self.counters = slot.counters()
        self.observer = RequestObserver(cfg, access_log, self.counters, self)
        self.watcher = None
        self.long = False           # the last app call ran long: events are stale
        # The slots peers may hold: the pool (``desired`` workers when the arbiter
        # forked this one), and a reload's new workers too.
        self.read_peers = functools.partial(
            slot.peers, 2 * max(desired, number) + 2)
        self.poller = select.epoll()
        self.table = ConnectionTable(self.poller, self.listeners, self.handoff,
                                     self._connection, slot, cfg.max_connections,
                                     self.read_peers)
        self.longcall = LongCall(self.table, self._abort_hook, self._quit_in_app)
        self.pool = None            # the ThreadPool, with --threads N > 1
        self.waiting = {}           # conn -> since: a request waits for a thread
        self.backlog_first = False  # _take_new: the backlog or the pair first, in turn

    @property
    def alive(self):
        """Still taking new work. A hook may set it to False, as with
        Gunicorn, to stop this worker gracefully (it is then replaced)."""
        return self.taking

    @alive.setter
    def alive(self, value):
        if value or not self.taking:
            return
        if self.pool is not None and self.pool.on_thread():
            self.pool.later(self._stop_asked)   # a request hook: the loop stops
        else:
            self._stop(time.monotonic())

    def _stop_asked(self):
        self._stop(time.monotonic())

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
        self.longcall.install()
        # The arbiter forks with its signals blocked; ours are in place now.
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        set_title("worker %d" % self.number, self.cfg)
        daemon.switch_user(self.cfg.user, self.cfg.group, self.cfg.initgroups)
        if self.app is None:
            self.app = _load_app(self.cfg.app)
        self._setup(self.cfg)
        self.poller.register(self.signals.read_fd, _IN)
        if self.pool is not None:
            self.pool.start()
            self.poller.register(self.pool.wake_fd, _IN)
        self.table.accept_on()
        try:
            hooks.call_strict(self.cfg.hooks, "post_worker_init", self)
        except hooks.HookFailed:
            raise SystemExit(errors.EXIT_WORKER_BOOT) from None
        if self.cfg.warmup:
            from appserver.app import warmup
            warmup.serve_or_exit(self.app, next(iter(self.bases.values())), self.cfg.warmup)
        if self.cfg.reload:
            from appserver.app.devreload import Watcher
            self.watcher = Watcher(self.cfg.reload_extra_file, self.counters.ask_reload)
        now = time.monotonic()
        self.counters.booted(now - self.forked_at)
        self.slot.set_state(scoreboard.IDLE, now)

    def _setup(self, cfg):
        """What every connection of this worker shares."""
        from appserver.net import tls
        from appserver.wsgi import proxy
        self.limits = Limits(request_line=cfg.limit_request_line,
                             fields=cfg.limit_request_fields,
                             field_size=cfg.limit_request_field_size,
                             body=cfg.limit_request_body)
        self.connection_class, self.build_environ, self.table.uwsgi_peers = _protocol(cfg)
        self.timeouts = Timeouts(header=cfg.header_timeout, keep_alive=cfg.keep_alive,
                                 send=cfg.send_timeout)
        self.static = _static_files(cfg)
        self.rewrite = proxy.Rewriter(cfg).rewrite       # a bound method: cheaper to call
        context = tls.server_context(cfg)
        self.front = Front(context, proxy.AllowList(cfg.proxy_allow_ips)
                           if cfg.proxy_protocol else None)
        multiprocess = cfg.workers != 1
        self.bases = {fd: base_environ(listener, multiprocess)
                      for fd, listener in self.listeners.items()}
        if pool_threads(cfg):
            self._start_pool(pool_threads(cfg))
        if context is not None:
            for base in self.bases.values():
                base["wsgi.url_scheme"] = "https"
        self.inherited = {fd: prepare_listener(listener, cfg.read_timeout, cfg.send_timeout)
                          for fd, listener in self.listeners.items()}

    def _connection(self, sock, peer, listener):
        """A new ``Connection`` on ``listener`` (the table's factory)."""
        fd = listener.fileno()
        conn = self.connection_class(sock, peer, listener, self.limits,
                                     self.cfg.read_timeout, self.cfg.send_timeout,
                                     self.inherited[fd], self.timeouts, self.front)
        conn.base = self.bases[fd]
        return conn

    def _abort_hook(self):
        hooks.call(self.cfg.hooks, "worker_abort", self)

    # -- loop ---------------------------------------------------------------

    def _loop(self):
        poll, table, beat = self.poller.poll, self.table, self.slot.beat
        conns = table.conns
        control = set(self.listeners) | {self.signals.read_fd, self.handoff.fileno()}
        if self.pool is not None:
            control.add(self.pool.wake_fd)
        while not (self.exiting and not conns):
            now = time.monotonic()
            beat(now)
            events = poll(self._poll_timeout())
            self.long = False
            ready = [fd for fd, _ in events if fd in control]
            if ready:
                self._control(ready)
            for fd, _ in events:
                if self.long:
                    break                   # the list is stale: poll again
                conn = conns.get(fd)
                if conn is not None:
                    self._readable(conn)
            now = time.monotonic()
            if self.handing_over:
                self._hand_over()
            if self.waiting:
                self._pass_waiting(now)
            if now >= self.next_sweep:
                self._sweep(now)
                if self.watcher is not None:
                    self.watcher.check(now)

    def _poll_timeout(self):
        if self.handing_over and self.table.between_requests():
            return RETRY_INTERVAL       # the pair was full: try again soon
        if self.waiting:
            return HANDOFF_TICK         # pass them on if no thread frees
        return SWEEP_INTERVAL if self.table.conns else self.idle_sleep

    def _control(self, ready):
        """Connections handed over, then signals, then new connections, all
        before this worker's own connections. Unlike theirs, these
        descriptors' readiness does not go stale during a long call, so one
        does not skip the rest: a new connection left in the backlog behind
        long call after long call (each poll's list cut short) waited seconds
        under a mixed load. The pair goes before a graceful stop, which stops
        taking from it: it may hold our own connections, passed on during
        the call just ended, whose requests the stopping worker still owes."""
        if self.pool is not None and self.pool.wake_fd in ready:
            self._threads_done()
        if self.handoff.fileno() in ready and self.table.accepting:
            self._adopt()
        if self.signals.read_fd in ready:
            self._signals()
        for fd in ready:
            listener = self.listeners.get(fd)
            if listener is not None and self.table.accepting:
                self._accept(listener)

    def _adopt(self):
        """Serve up to ``ADOPT_BATCH`` connections waiting in the pair before
        our own: each has waited at least ``HANDOFF_AFTER`` already, ours
        less, so requests are served about in the order they came. Bounded,
        because under load the pair need never empty (busy peers keep
        passing connections into it)."""
        table = self.table
        for _ in range(ADOPT_BATCH):
            adopted = table.adopt(1) if table.accepting else ()
            if not adopted:
                return
            # One at a time: the rest stay in the pair, for a free worker,
            # while this one serves. A request waits on it: serve it now.
            conn = adopted[0]
            if conn.fill_waiting() or conn.unread:
                self._process(conn)

    def _accept(self, listener, batch=None):
        """Accept a batch; a request that came with its connection is served
        at once, and the connection is watched only if it stays open (a
        connection closed after one response never enters the epoll set)."""
        table = self.table
        for conn in table.accept(listener, *(() if batch is None else (batch,))):
            if waiting_head(conn):
                self._process(conn)
                if conn.state is CLOSED_STATE:
                    continue            # answered and closed: never watched
            table.watch(conn)
        return table.more

    def _readable(self, conn):
        state = conn.state
        if state is IDLE or state is AWAIT_HEAD:
            conn.fill()
            self._process(conn)
        elif state is FRONT:
            wanted = conn.wants_write
            conn.advance_front()
            if conn.state is AWAIT_HEAD:
                if wanted:
                    self.table.rewatch(conn)
                self._readable(conn)    # the request may have come with it
            elif not conn.open:
                self.table.forget(conn)
            elif conn.wants_write != wanted:
                self.table.rewatch(conn)
        elif state is DRAINING:
            conn.skip_body(time.monotonic())
            self._process(conn)
        elif state is LINGERING:
            conn.discard()
            if not conn.open:
                self.table.forget(conn)
        elif state is SENDING:
            reply = conn.push(time.monotonic())
            if reply is not None:
                self._static_done(conn, reply)
                if conn.open:
                    self.table.rewatch(conn)    # reading again
                self._process(conn)             # a pipelined request may wait

    def _process(self, conn):
        """Turn buffered bytes into requests and serve them, pipelined ones too."""
        while conn.state is IDLE or conn.state is AWAIT_HEAD:
            if self.handing_over and conn.movable(self.handoff):
                self.table.pass_on(conn)
                return          # passed on, or it waits for room in the pair
            if (self.pool is not None and not self.pool.free and conn.unread
                    and not self._static_ahead(conn)):
                self._wait(conn)
                return
            try:
                request = conn.next_request()
            except HTTPError as err:
                self._reject(conn, err)
                return
            if request is None:
                break
            if self.static is not None and self.static.claims(request.path):
                more = self._serve_static(conn, request)
                if more is not None:
                    if more:
                        continue
                    break
            if not self._serve(conn, request):
                break
        if conn.state is CLOSED_STATE or conn.state is PASSED_ON:
            self.table.forget(conn)

    def _serve(self, conn, request):
        """Run the app for one request; the connection then says what it
        waits for (``Connection.finished``), and whether a pipelined request
        may already be buffered (True: look for it now)."""
        if request.dropped_headers:
            log.debug("dropped headers with '_' from %s: %s", conn.peer,
                      ", ".join(request.dropped_headers))
        slot, longcall = self.slot, self.longcall
        started = time.monotonic()
        slot.request_started(scoreboard.line_cell(request.line), started)
        if self.titles:
            set_title(worker_role(self.number, request.line), self.cfg)
        if not self.taking:
            request.keep_alive = False
        longcall.begin(conn, started)
        try:
            keep = handle(conn, request, self.app, conn.base, self.observer,
                          self.rewrite, started, self.build_environ, True)
        except WorkerTimeout:
            longcall.end(started)
            raise SystemExit(0) from None
        now = time.monotonic()
        self.long = longcall.end(now) or self.long
        slot.request_finished(now)
        if self.titles:
            set_title(worker_role(self.number), self.cfg)
        if type(keep) is not bool:
            return self._send_file(conn, keep, now)
        more = conn.finished(keep, now)
        self._served(now)
        return more

    def _served(self, now):
        """A request ended: count it towards max-requests."""
        self.requests += 1
        if self.requests == self.max_requests:
            self._reached_max_requests(now)

    def _send_file(self, conn, outgoing, now):
        """The app's file (a ``FileSend``) goes out from the loop, in
        SENDING, while the loop serves the other connections; the request
        counts once it ends (its ``close()``, whichever way the sending
        ended). As ``_serve``, whether a pipelined request may be buffered."""
        outgoing.ended = self._file_sent
        if conn.send_static(outgoing, outgoing.keep, now) is not None:
            return conn.state is IDLE and conn.unread > 0
        if conn.open:
            self.table.rewatch(conn)            # writing, when it was watched
        return False

    def _file_sent(self, outgoing):
        if not self.quitting:
            self._served(time.monotonic())

    # -- threads (--threads N > 1) -----------------------------------------------

    def _start_pool(self, threads):
        from appserver.worker.threads import Job, LockedCounters, ThreadPool
        self.pool = ThreadPool(threads, self.slot.use_rows(threads), self._run_job)
        self.counters = LockedCounters(self.counters)
        self.observer = RequestObserver(self.cfg, self.access_log, self.counters, self)
        for base in self.bases.values():
            base["wsgi.multithread"] = True
        self._serve = self._dispatch
        self._job = Job
        self.longcall.stacks = self._slow_stacks

    def _dispatch(self, conn, request):
        """``_serve`` with threads: the request goes to a free thread, and
        the loop stops watching its connection until the thread is done."""
        if request.dropped_headers:
            log.debug("dropped headers with '_' from %s: %s", conn.peer,
                      ", ".join(request.dropped_headers))
        started = time.monotonic()
        if not self.taking:
            request.keep_alive = False
        self.table.unwatch(conn)
        self.pool.submit(self._job(conn, request, started, self.observer))
        if self.cfg.proctitle_requests:
            self._pool_title()
        if not self.pool.free and self.taking and not self.exiting:
            self.table.hold(True)
            self.slot.set_state(scoreboard.BUSY, started)
        self.requests += 1
        if self.requests == self.max_requests:
            self._reached_max_requests(started)
        return False

    def _run_job(self, job):
        """On a pool thread: the app for ``job``; True if keep-alive goes on."""
        try:
            return handle(job.lease, job.request, self.app, job.conn.base, job,
                          self.rewrite, job.since, self.build_environ)
        except WorkerTimeout:
            return False

    def _threads_done(self):
        """Take back the connections whose request a thread has finished."""
        self.pool.woken()
        for call in self.pool.take_calls():
            call()
        now = time.monotonic()
        closing = self.exiting and not self.handing_over
        done = self.pool.take_done()
        if done and self.cfg.proctitle_requests:
            self._pool_title()
        for job in done:
            conn = job.conn
            self.slot.counted(now)
            more = conn.finished(job.keep and not closing, now)
            if not conn.open:
                self.table.forget(conn)
                continue
            self.table.watch(conn)
            if more:
                self._process(conn)
        if self.pool.free:
            if self.taking and self.table.held:
                self.table.hold(False)
                self.slot.set_state(scoreboard.IDLE, now)
                self._take_new()
            self._resume_waiting()

    def _pool_title(self):
        """The title with threads: how many run a request, and the oldest."""
        running, pool = self.pool.running, self.pool
        oldest = min(running, key=lambda job: job.since) if running else None
        set_title(worker_role(self.number, oldest and oldest.request.line,
                              min(len(running) + pool.stuck, pool.size), pool.size),
                  self.cfg)

    def _take_new(self):
        """Threads are free again after all were busy: connections waiting in
        the backlog and in the pair go before this worker's own, as in
        ``_control``, in turn (under such a load the pair is never empty:
        our waiting connections go there). Else kept connections whose
        clients send again at once took every freed thread before the
        listener, held meanwhile, was polled: a new client waited until they
        stopped."""
        self.backlog_first = not self.backlog_first
        for take_backlog in (self.backlog_first, not self.backlog_first):
            if not (self.pool.free and self.table.accepting):
                return
            if not take_backlog:
                self._adopt()
                continue
            for listener in self.listeners.values():
                if self.pool.free and self.table.accepting:
                    self._accept(listener, self.pool.free)

    def _static_ahead(self, conn):
        """Whether the head buffered on ``conn`` asks for a static path: the
        loop answers it without a thread (should the app answer it after
        all, static-fallback, its job waits in the pool's queue)."""
        if self.static is None:
            return False
        head = conn.parser.pending_head()
        target = head.split(b" ", 2)[1:2] if head else None
        return bool(target) and self.static.claims(target[0].decode("latin-1"))

    def _wait(self, conn):
        """A request arrived on ``conn`` while every thread is busy; what
        else the client sends stays in the kernel meanwhile."""
        self.waiting.setdefault(conn, time.monotonic())
        self.table.unwatch(conn)

    def _resume_waiting(self):
        while self.waiting and self.pool.free:
            conn = next(iter(self.waiting))
            del self.waiting[conn]
            if self.table.conns.get(conn.fd) is conn:
                self.table.watch(conn)
                self._process(conn)

    def _pass_waiting(self, now):
        """Pass to a free worker the requests that waited ``HANDOFF_AFTER``
        here for a thread (a retiring worker passes them all at once)."""
        for conn, since in list(self.waiting.items()):
            if self.table.conns.get(conn.fd) is not conn:
                del self.waiting[conn]      # closed, or passed on by _hand_over
            elif not self.taking and not self.handing_over:
                continue                    # closing: served here
            elif ((now - since >= HANDOFF_AFTER or self.handing_over)
                  and self.table.pass_on(conn)):
                del self.waiting[conn]

    def _overdue(self, now):
        """Requests on threads past ``timeout``: see the module comment."""
        for job in self.pool.overdue(now - self.cfg.timeout):
            if not job.timed_out:
                job.timed_out = True
                log.critical("WORKER TIMEOUT (pid:%d) Request %s ran past timeout "
                             "(%d s) on thread %s; stack:\n%s", self.pid,
                             job.request.line, self.cfg.timeout,
                             _thread_name(job), self.pool.stack(job))
                self._abort_hook()
                self._retire_after_timeout(now)
            if self.pool.abandon(job):
                self._answer_abandoned(job, now)

    def _retire_after_timeout(self, now):
        if self.taking:
            log.info("Worker %d retires: a request ran past timeout; its other "
                     "requests finish first", self.pid)
            self.slot.ask_recycle(scoreboard.RECYCLE_TIMEOUT)
            _nudge(self.nudge_fd)
            self._retire(now)

    def _answer_abandoned(self, job, now):
        """The loop answers for a thread it abandoned: 504 if nothing was
        sent (else the response is cut), the access line, then close (only
        close, if the response was over)."""
        conn, request, response = job.conn, job.request, job.response
        duration = now - job.since
        if job.answered:
            pass                    # the thread wrote its access line
        elif not job.lease.sent_any:
            log.error("Request %s timed out after %.1f s; answering 504",
                      request.line, duration)
            data = error_bytes(GatewayTimeout(), request.method == "HEAD")
            try:
                conn.sendall(data)
                sent = len(data)
            except OSError:
                sent = 0            # the client is gone: the access line says so
            body = max(0, sent - data.index(b"\r\n\r\n") - 4)
            self.observer.abandoned(conn, request, job.environ, 504, body, sent,
                                    duration)
        else:
            conn.abort()            # cut short: never taken for complete
            self.observer.abandoned(conn, request, job.environ, response.code or 500,
                                    response.body_sent, response.sent, duration)
        conn.finished(False, now)
        if conn.open:
            self.table.watch(conn)
        else:
            self.table.forget(conn)

    def _abandon_all(self, now):
        """graceful-timeout passed: answer for every request still on a thread."""
        for job in list(self.pool.running):
            if self.pool.abandon(job):
                self._answer_abandoned(job, now)

    def _slow_stacks(self):
        """slow-request (the arbiter's ``STACK_SIGNAL``): log the stack of
        every request running longer than that on a thread, once."""
        limit = time.monotonic() - (self.cfg.slow_request or 0)
        for job in list(self.pool.running):
            if job.since <= limit and not job.stack_logged:
                job.stack_logged = True
                log.warning("Worker %d: stack of the slow request %s on thread %s "
                            "(still running):\n%s", self.pid, job.request.line,
                            _thread_name(job), self.pool.stack(job))

    def _serve_static(self, conn, request):
        """Answer a request under a static prefix from the loop; None when
        the app is to answer it (static-fallback, file missing), else
        whether a pipelined request may already be buffered (as ``_serve``).
        What the socket does not take at once goes out in SENDING
        (``_readable``)."""
        keep = request.keep_alive and self.taking
        reply = self.static.answer(request.method, request.path, request.headers,
                                   request.version, keep)
        if reply is None:
            return None                         # the body stays for the app
        if not (conn.parser.skip_empty_body() or _skip_body(conn, request)) and keep:
            reply.close()
            keep = False
            reply = self.static.answer(request.method, request.path, request.headers,
                                       request.version, keep)
        now = time.monotonic()
        if conn.send_static(reply, keep, now) is not None:     # over at once
            self.observer.static(conn, request, reply, time.monotonic() - now,
                                 self.build_environ)
            return conn.state is IDLE and conn.parser.buffered > 0
        reply.note = (request, now)             # for _static_done, once it is sent
        if conn.open:
            self.table.rewatch(conn)            # writing, when it was watched
        return False

    def _static_done(self, conn, reply):
        if reply.note is None:
            return      # the app's file (``FileSend``): its close() ended the request
        request, started = reply.note
        self.observer.static(conn, request, reply, time.monotonic() - started,
                             self.build_environ)

    def _reject(self, conn, err):
        log.info("client %s: %s (%d %s)", conn.name, err.detail, err.status, err.reason)
        sent, body = conn.reject(err, time.monotonic())
        self.observer.rejected(conn, err, sent, body)
        if not conn.open:
            self.table.forget(conn)

    def _sweep(self, now):
        self.next_sweep = now + SWEEP_INTERVAL
        if self.pool is not None and self.cfg.timeout:
            self._overdue(now)
        for conn in self.table.expired(now):
            if conn in self.waiting:
                continue                # its request is complete: it waits for a thread
            error = conn.expire()
            if error is not None:
                self._reject(conn, error)
            elif not conn.open:
                self.table.forget(conn)
        if self.stop_by is not None and now >= self.stop_by:
            log.info("Worker %d: graceful-timeout passed, closing %d connections",
                     os.getpid(), len(self.table))
            if self.pool is not None:
                self._abandon_all(now)
            self.table.close_all()
        if os.getppid() != self.ppid and not self.exiting:
            log.warning("Worker %d: the arbiter went away; stopping", os.getpid())
            self._stop(now, last=True)

    # -- signals and stopping --------------------------------------------------

    def _signals(self):
        self.signals.drain_pipe()
        while True:
            signum = self.signals.pop()
            if signum is None:
                return
            if signum == signal.SIGTERM:
                self._stop(time.monotonic())
            elif signum in (signal.SIGINT, signal.SIGQUIT):
                hooks.call(self.cfg.hooks, "worker_int", self)
                self._quit()
            elif signum == signal.SIGUSR1:
                logs.reopen()
                self.longcall.register_stack_dump()

    def _quit_in_app(self):
        """INT, QUIT while the app runs (a sync worker's call): exit from
        inside it, as Gunicorn does; ``handle`` closes the app's iterable as
        SystemExit goes through."""
        hooks.call(self.cfg.hooks, "worker_int", self)
        self._quit()

    def _quit(self):
        """INT, QUIT: exit now. The files the loop is sending are closed
        first: PEP 3333 wants the iterable's close() whenever the server is
        done with it (an error in it is logged); they count for nothing."""
        self.quitting = True
        self.table.close_sending()
        raise SystemExit(0)

    def _reached_max_requests(self, now):
        log.info("Worker %d served %d requests (max-requests); asking for a "
                 "replacement", os.getpid(), self.requests)
        self.slot.ask_recycle()
        _nudge(self.nudge_fd)
        self._retire(now)

    def _stop(self, now, last=False):
        """TERM: retire, handing connections over, while a serving worker
        remains; else close (see the module comment). Exit once empty."""
        if self.exiting:
            return
        self.exiting = True
        self.stop_by = now + self.cfg.graceful_timeout
        if last or self.slot.last():
            self._close_down(now)
        else:
            self._retire(now)

    def _retire(self, now):
        """Stop taking work; hand every connection between requests over."""
        if self.handing_over:
            return
        self._stop_taking(now)
        self.handing_over = True
        self._hand_over()

    def _hand_over(self):
        for conn in self.table.between_requests():
            if conn.tls:
                if conn.state is IDLE and not conn.unread:
                    conn.say_goodbye()
                    self.table.forget(conn)
            else:
                self.table.pass_on(conn)

    def _close_down(self, now):
        """No serving worker remains: take what the backlog holds, close
        idle connections (but serve those on which a request has arrived)."""
        self.handing_over = False       # nobody would take them
        if self.taking:
            self.table.hold(False)      # with threads: the backlog waits here
            for listener in self.listeners.values():
                while self._accept(listener, self.cfg.max_connections):
                    pass
        self._stop_taking(now)
        readable = self.table.readable_now()
        for conn in self.table.between_requests():
            if conn.state is IDLE and conn.fd not in readable and not conn.unread:
                conn.say_goodbye()
                self.table.forget(conn)

    def _stop_taking(self, now):
        self.taking = False
        self.longcall.may_pass = False
        self.table.accept_off()
        self.slot.set_state(scoreboard.DRAINING, now)


def _nudge(fd):
    """Have the arbiter look at this worker's slot now."""
    try:
        os.write(fd, b"r")
    except OSError:
        pass


def _thread_name(job):
    return "%d/%d" % (job.number + 1, job.size)


def idle_sleep(timeout):
    """How long an idle worker may wait in epoll: well within ``timeout``, or
    the arbiter would take its quiet sleep for a stuck request."""
    return min(HEARTBEAT_INTERVAL, timeout / 4.0) if timeout else HEARTBEAT_INTERVAL


def _static_files(cfg):
    """The worker's ``StaticFiles``, or None (then nothing of it is imported)."""
    if not cfg.static:
        return None
    from appserver import static
    return static.from_settings(cfg)


def _skip_body(conn, request):
    """Skip the body a static request came with (the next request follows
    it); False when the connection cannot be kept: a body whose sender waits
    for a 100 Continue never sent, or more than the app's unread-body limit."""
    if request.expect_continue and (request.chunked or request.content_length):
        return False
    try:
        return conn.discard_body(UNREAD_BODY_LIMIT)
    except (ClientError, HTTPError):
        return False


def _load_app(spec):
    from appserver.app import loader
    try:
        return loader.load_app(spec)
    except errors.AppLoadError as exc:
        log.error("%s", exc)
        raise SystemExit(errors.EXIT_APP_LOAD) from None
    except Exception:
        log.exception("Worker failed to boot")
        raise SystemExit(errors.EXIT_WORKER_BOOT) from None


def _protocol(cfg):
    """The connection class and environ builder for ``protocol``, and the
    uwsgi peers allowed."""
    if cfg.protocol != "uwsgi":
        return Connection, build_environ, None
    from appserver.http import uwsgi
    from appserver.net.connection import UwsgiConnection
    from appserver.wsgi.proxy import AllowList
    return UwsgiConnection, uwsgi.build_environ, AllowList(cfg.uwsgi_allow_ips)


def _max_requests(cfg):
    if not cfg.max_requests:
        return float("inf")
    return cfg.max_requests + random.randint(0, max(0, cfg.max_requests_jitter))
