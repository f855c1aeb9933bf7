"""The arbiter: binds, forks and supervises the workers; carries out decisions.

``Arbiter(cfg).run()`` binds the listeners, writes the pid file, forks
``workers`` sync workers and loops: wait for a signal or a short tick, act on
recorded signals (``_on_<name>`` methods), reap children, kill workers whose
scoreboard heartbeat went stale, and spawn or stop workers as
``supervisor`` decides. It logs ``Listening at: URL (PID)``, ``Booting worker
with pid: N`` and, once all first workers have loaded the app, ``Ready: N
workers booted``. ``run()`` returns 0 after a stop, or raises the
``AppServerError`` that made it give up (``cli`` prints it and exits with its
code).
"""

import logging
import os
import signal
import time

from appserver import __version__, errors, logs, pidfile, scoreboard, sockets, supervisor
from appserver.proctitle import set_title
from appserver.scoreboard import Scoreboard
from appserver.signals import SignalQueue

log = logging.getLogger("appserver")

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
           signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN,
           signal.SIGTTOU, signal.SIGWINCH)
QUICK_STOP_GRACE = 2.0          # seconds workers get to exit on INT/QUIT
MAX_BOOT_FAILURES = 5           # consecutive boot failures before giving up
BOOT_TIMEOUT = 60.0             # seconds a worker may take to load the app


class Arbiter:
    """The master process; see the module comment."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.desired = cfg.workers
        self.workers = {}           # pid -> supervisor.Worker
        self.listeners = []
        self.app = None
        self.ready = False
        self.boot_failures = 0
        self.next_spawn_at = 0.0
        self.killed = set()
        self.stop_mode = None       # None, "graceful" or "quick"
        self.failure = None         # the AppServerError that ends the run
        self.pid = os.getpid()

    # -- life cycle ---------------------------------------------------------

    def run(self):
        cfg = self.cfg
        self.access_log = logs.setup(cfg)
        log.info("Starting appserver %s", __version__)
        if cfg.preload:
            from appserver import loader
            self.app = loader.load_app(cfg.app)
        from appserver.config import parse_bind
        self.listeners = sockets.bind_all([parse_bind(b) for b in cfg.bind], cfg.backlog)
        try:
            for listener in self.listeners:
                log.info("Listening at: %s (%d)", listener.url(), self.pid)
            if cfg.pid:
                pidfile.write(cfg.pid, self.pid)
            set_title("master", cfg)
            self.scoreboard = Scoreboard()
            self.signals = SignalQueue(HANDLED)
            self._loop()
        finally:
            self._cleanup()
        if self.failure is not None:
            raise self.failure
        return errors.EXIT_OK

    def _loop(self):
        while self.stop_mode is None:
            self._maintain()
            self.signals.wait(0.1 if not self.ready else 1.0)
            self._handle_signals()
            self._reap()
            self._check_workers()
        self._stop_workers()

    def _cleanup(self):
        if self.workers:
            self._kill_all(signal.SIGKILL)
            self._reap(block=True)
        sockets.close_all(self.listeners)
        if self.cfg.pid:
            pidfile.remove(self.cfg.pid, self.pid)
        log.info("Shutting down: master %d", self.pid)

    # -- workers ------------------------------------------------------------

    def _maintain(self):
        """Spawn or stop workers so that ``desired`` run (respecting backoff)."""
        if self.stop_mode is not None:
            return
        for pid in supervisor.to_stop(self.desired, list(self.workers.values())):
            self._signal(pid, signal.SIGTERM)
        missing = supervisor.to_spawn(self.desired, list(self.workers.values()))
        if missing and time.monotonic() >= self.next_spawn_at:
            for _ in range(missing if not self.boot_failures else 1):
                self._spawn()

    def _spawn(self):
        index = supervisor.free_index(self.workers.values(), self.scoreboard.slots)
        now = time.monotonic()
        slot = self.scoreboard.claim(index, 0, now)
        pid = os.fork()
        if pid == 0:
            self._become_worker(slot)
        self.scoreboard.set_pid(index, pid)
        self.workers[pid] = supervisor.Worker(pid, index, now)
        log.info("Booting worker with pid: %d", pid)

    def _become_worker(self, slot):
        """In the child: never returns."""
        try:
            from appserver.worker import Worker
            self.signals.close()
            Worker(self.cfg, self.listeners, slot, self.app, self.access_log).run()
        finally:
            os._exit(errors.EXIT_ERROR)

    def _check_workers(self):
        now = time.monotonic()
        workers = list(self.workers.values())
        infos = {w.index: self.scoreboard.read(w.index) for w in workers}
        for stuck in supervisor.stuck_workers(workers, infos, now, self.cfg.timeout,
                                              BOOT_TIMEOUT):
            if stuck.pid in self.killed:
                continue
            doing = ("while serving %r" % stuck.request_line if stuck.request_line
                     else "while idle or booting")
            log.error("Worker %d timed out: no heartbeat for %.1f s %s; killing it",
                      stuck.pid, stuck.silent_for, doing)
            self.killed.add(stuck.pid)
            self._signal(stuck.pid, signal.SIGKILL)
        if supervisor.all_booted(workers, infos):
            self.boot_failures = 0
            if not self.ready:
                self.ready = True
                log.info("Ready: %d workers booted", len(workers))

    def _reap(self, block=False):
        while True:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is not None:
                info = self.scoreboard.read(worker.index)
                self.scoreboard.release(worker.index)
                self._worker_exited(worker, info, os.waitstatus_to_exitcode(status))

    def _worker_exited(self, worker, info, code):
        self.killed.discard(worker.pid)
        what = supervisor.describe_exit(max(code, 0), -code if code < 0 else 0)
        if self.stop_mode is not None:
            log.info("Worker %d %s", worker.pid, what)
            return
        if code == errors.EXIT_APP_LOAD:
            self._fail(errors.AppLoadError(
                "the application %r could not be loaded (see the error above); "
                "fix it and start again" % self.cfg.app))
            return
        if info.state == scoreboard.BOOTING or code == errors.EXIT_WORKER_BOOT:
            self._boot_failed(worker, what)
            return
        level = logging.INFO if code == 0 else logging.WARNING
        log.log(level, "Worker %d %s; replacing it", worker.pid, what)

    def _boot_failed(self, worker, what):
        self.boot_failures += 1
        if self.boot_failures >= MAX_BOOT_FAILURES:
            self._fail(errors.WorkerBootError(
                "workers failed to boot %d times in a row (last: %s); giving up"
                % (self.boot_failures, what)))
            return
        delay = supervisor.respawn_delay(self.boot_failures)
        self.next_spawn_at = time.monotonic() + delay
        log.warning("Worker %d %s while booting; respawning in %.1f s",
                    worker.pid, what, delay)

    def _fail(self, error):
        log.error("%s", error)
        self.failure = error
        self.stop_mode = "quick"

    def _signal(self, pid, signum):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def _kill_all(self, signum):
        for pid in list(self.workers):
            self._signal(pid, signum)

    def _stop_workers(self):
        """Stop every worker: TERM (graceful) or QUIT (quick), then KILL."""
        graceful = self.stop_mode == "graceful"
        self._kill_all(signal.SIGTERM if graceful else signal.SIGQUIT)
        limit = self.cfg.graceful_timeout if graceful else QUICK_STOP_GRACE
        deadline = time.monotonic() + limit
        while self.workers and time.monotonic() < deadline:
            self.signals.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            if self._quick_requested() and graceful:
                graceful = False
                self._kill_all(signal.SIGQUIT)
                deadline = min(deadline, time.monotonic() + QUICK_STOP_GRACE)
            self._reap()
        if self.workers:
            log.warning("Killing %d workers that did not stop in time", len(self.workers))

    def _quick_requested(self):
        quick = False
        while True:
            signum = self.signals.pop()
            if signum is None:
                return quick
            quick = quick or signum in (signal.SIGINT, signal.SIGQUIT)

    # -- signals ------------------------------------------------------------

    def _handle_signals(self):
        while True:
            signum = self.signals.pop()
            if signum is None:
                return
            handler = getattr(self, "_on_" + signal.Signals(signum).name[3:].lower(), None)
            if handler is not None:
                handler()

    def _on_term(self):
        log.info("Received TERM: stopping gracefully")
        self.stop_mode = "graceful"

    def _on_int(self):
        log.info("Received INT: stopping now")
        self.stop_mode = "quick"

    _on_quit = _on_int

    def _on_chld(self):
        pass        # the loop reaps after every wakeup

    def _on_usr1(self):
        logs.reopen()
        self._kill_all(signal.SIGUSR1)

    def _on_ttin(self):
        self.desired += 1
        log.info("Received TTIN: %d workers wanted", self.desired)

    def _on_ttou(self):
        self.desired = max(1, self.desired - 1)
        log.info("Received TTOU: %d workers wanted", self.desired)

    def _on_hup(self):
        log.warning("Received HUP: reloading is not supported by this version; ignored")
