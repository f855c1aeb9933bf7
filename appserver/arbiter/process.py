"""The arbiter: binds, forks and supervises the workers; carries out decisions.

``Arbiter(cfg).run()`` binds the listeners (or takes them from an old arbiter
on a USR2 upgrade), writes the pid file, and loops: wait for a signal or a
short tick, act on recorded signals (``_on_<name>`` methods), reap children,
deal with stuck workers, and carry out ``plan.plan``. It logs
``Listening at: URL (PID)``, ``Booting worker with pid: N`` and, once all
workers have loaded the app, ``Ready: N workers booted``. ``run()`` returns
0 after a stop, or raises the ``AppServerError`` that made it give up (``cli``
prints it and exits with its code).
"""

import logging
import os
import signal
import sys
import time

from appserver import __version__, errors, hooks, logs, pidfile, scoreboard, sockets
from appserver import process, sharedlibs, status, systemd, upgrade
from appserver.worker import handoff
from appserver.arbiter.readiness import Readiness
from appserver.proctitle import set_title
from appserver.signals import SignalQueue
from appserver.arbiter.pool import HANDLED, WorkerPool
from appserver.arbiter.handlers import SignalHandlers
from appserver.arbiter.monitor import Monitor

log = logging.getLogger("appserver")



class Arbiter(WorkerPool, SignalHandlers):
    """The master process; see the module comment."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.desired = 0            # set by run(): cfg.workers, resolved
        self.workers = {}           # pid -> supervisor.Worker
        self.retiring = {}          # pid -> why it is being replaced
        self.stopping = set()       # pids sent TERM
        self.timed_out = {}         # pid -> when its stack dump was asked for
        self.lifetimes = {}         # pid -> allowed age in seconds
        self.listeners = []
        self.app = None
        self.ready = False
        self.booted_once = False    # some worker has loaded the app
        self.booted = set()         # pids of live workers that have booted
        self.boot_failures = 0
        self.next_spawn_at = 0.0
        self.next_rss = 0.0
        self.stop_mode = None       # None, "graceful" or "quick"
        self.failure = None         # the AppServerError that ends the run
        self.successor = None       # pid of the new arbiter after USR2
        self.stop_at = None         # end of the shutdown delay after TERM
        self.inherited_paths = []   # unix socket files an old arbiter made
        self.admin = None
        self.when_ready_called = False
        self.pid = os.getpid()
        sharedlibs.preload()        # before base_modules: a reload keeps them
        self.base_modules = set(sys.modules)

    # -- life cycle ---------------------------------------------------------

    def run(self):
        cfg = self.cfg
        self.access_log = logs.setup(cfg)
        self.predecessor = upgrade.old_arbiter()
        self.readiness = Readiness(systemd.Notifier(), successor=bool(self.predecessor))
        if cfg.pid and not self.predecessor:
            process.check_pidfile(cfg.pid)
        process.check_user(cfg.user, cfg.group)
        if cfg.daemon and not self.predecessor:
            process.daemonize()
            self.pid = os.getpid()
        process.set_umask(cfg.umask)
        log.info("Starting appserver %s", __version__)
        if cfg.config_file:
            log.info("Config file: %s%s", cfg.config_file, "" if "config" in cfg.cli
                     else " (found in the current directory; -c FILE to choose)")
        hooks.call_strict(cfg.hooks, "on_starting", self)
        self.desired = self.resolve_workers(cfg)
        if cfg.preload:
            self.app = self._load_app()
        self.listeners = self._listen()
        try:
            for listener in self.listeners:
                url = listener.url()
                if cfg.certfile:
                    url = url.replace("http://", "https://", 1)
                log.info("Listening at: %s (%d)", url, self.pid)
            if cfg.pid and not self.predecessor:
                pidfile.write(cfg.pid, self.pid)
            set_title("master", cfg)
            self.admin = self._admin()
            if cfg.pid and not self.predecessor:
                status.write_admin_file(self)
            self.scoreboard = scoreboard.Scoreboard()
            self.monitor = Monitor(self)
            # After USR2, the old generation's pair: its connections come here.
            self.handoff_pair = handoff.from_env() or handoff.create_pair()
            # Workers write a byte here to have their slot looked at now.
            self.nudge_r, self.nudge_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self.signals = SignalQueue(HANDLED)
            self._loop()
        finally:
            self._cleanup()
        if self.failure is not None:
            raise self.failure
        return errors.EXIT_OK

    def resolve_workers(self, cfg):
        """``workers`` as a number; ``auto`` is computed and explained."""
        from appserver.cpus import resolve_workers
        count, explanation = resolve_workers(cfg.workers)
        if explanation:
            log.info("%s", explanation)
        return count

    def _load_app(self):
        from appserver import loader
        return loader.load_app(self.cfg.app)

    def _listen(self):
        """Sockets from an old arbiter (USR2), else from systemd, else bound."""
        from appserver.config import parse_bind
        backlog = self.cfg.backlog
        inherited = upgrade.inherited_fds()
        if inherited is not None:
            listeners = sockets.bind_all([("fd", fd) for fd, _ in inherited], backlog)
            # The socket files stay the old arbiter's until we take over.
            self.inherited_paths = [path for _, path in inherited]
            return listeners
        activated = systemd.listen_fds()
        if activated:
            log.info("Using %d sockets from systemd (%s)%s", len(activated),
                     ", ".join(name for _, name in activated),
                     "; bind is ignored" if self.cfg.source("bind") != "default" else "")
            return sockets.bind_all([("fd", fd) for fd, _ in activated], backlog)
        return sockets.bind_all([parse_bind(b) for b in self.cfg.bind], backlog,
                                self.cfg.bind_mode, self.cfg.bind_owner)

    def _admin(self):
        if not self.cfg.admin_bind:
            return None
        from appserver.admin import AdminServer, bind_admin
        from appserver.status import routes
        listener = bind_admin(self.cfg.admin_bind)
        log.info("Admin listener at: %s", listener.url())
        return AdminServer(listener, routes(self))

    def _wait(self, timeout):
        """Sleep until a signal, a worker's nudge or an admin request."""
        admin_fds = self.admin.fds() if self.admin is not None else []
        for fd in self.signals.wait(timeout, [self.nudge_r] + admin_fds):
            if fd == self.nudge_r:
                _drain(fd)
            else:
                self.admin.readable(fd)
        if self.admin is not None:
            self.admin.sweep(time.monotonic())

    def _loop(self):
        while self.stop_mode is None:
            self._maintain()
            tick = 0.1 if not self.ready or self.retiring else 1.0
            self._wait(self.readiness.tick_bound(tick))
            if self.stop_at is not None and time.monotonic() >= self.stop_at:
                self.stop_mode = "graceful"
            self._handle_signals()
            self._reap()
            self._check_workers(time.monotonic())
        self._stop_workers()

    def _cleanup(self):
        if self.workers:
            self._kill_all(signal.SIGKILL)
            self._reap(block=True)
        sockets.close_all(self.listeners, unlink=self.successor is None)
        if self.admin is not None:
            self.admin.close(listener_too=True)
            sockets.close_all([self.admin.listener], unlink=self.successor is None)
        if self.cfg.pid:
            pidfile.remove(self.cfg.pid, self.pid)
            status.remove_admin_file(self)
        hooks.call(self.cfg.hooks, "on_exit", self)
        log.info("Shutting down: master %d", self.pid)

    def _hand_over(self):
        """After a USR2 upgrade: take the pid file, tell the old arbiter to go."""
        if not self.predecessor:
            return
        if self.cfg.pid:
            pidfile.write(self.cfg.pid, self.pid)
            status.write_admin_file(self)
        for listener, path in zip(self.listeners, self.inherited_paths):
            listener.owned_path = path
        self.readiness.took_over(self.pid)
        if self.cfg.upgrade_handoff:
            log.info("Upgrade complete: asking the old arbiter %d to stop",
                     self.predecessor)
            self._signal(self.predecessor, signal.SIGTERM)


def _drain(fd):
    try:
        while os.read(fd, 512):
            pass
    except (BlockingIOError, InterruptedError):
        pass
