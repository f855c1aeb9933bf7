"""The arbiter process: life cycle, loop, and what each signal means.

``Arbiter(cfg).run()`` binds the listeners (or takes them from an old arbiter
on a USR2 upgrade), writes the pid file, and loops: wait for a signal or a
short tick, act on recorded signals (``handle_<name>`` methods), reap
children, deal with stuck workers, and carry out ``plan.decide``. The worker
table is the ``pool.Pool``'s; the arbiter asks it to fork, retire and kill,
and reads it only through ``snapshot()``, which is also all the watchers
(``monitor``, ``status``) see: they return decisions and the arbiter carries
them out. It logs ``Listening at: URL (PID)``, ``Booting worker with pid: N``
and, once all workers have loaded the app, ``Ready: N workers booted``.
``run()`` returns 0 after a stop, or raises the ``AppServerError`` that made
it give up (``cli`` prints it and exits with its code).

Signal handlers only record (``signals.SignalQueue``); ``handle_<name>`` runs
from the loop and only changes the arbiter's intent (stop, how many workers,
which to replace). Each is logged with Gunicorn's phrase too, ``Handling
signal: term``, and a stuck worker's line starts with Gunicorn's ``WORKER
TIMEOUT (pid:N)`` at CRITICAL, so alert rules written for Gunicorn match.
"""

import logging
import os
import random
import signal
import sys
import time

from appserver import __version__, errors
from appserver.config import hooks
from appserver.config.settings import BY_KEY as SETTINGS

from appserver.deploy import pidfile
from appserver.net import sockets
from appserver.observe import logs, scoreboard
from appserver.deploy import daemon, sharedlibs, systemd, upgrade
from appserver.observe import status
from appserver.arbiter import plan
from appserver.arbiter.monitor import Monitor
from appserver.arbiter.pool import HANDLED, Pool
from appserver.arbiter.readiness import Readiness
from appserver.worker import handoff
from appserver.observe.proctitle import set_title
from appserver.signals import SignalQueue
from appserver.worker import Worker     # imported before fork: shared, and
                                         # no worker pays for it while booting

log = logging.getLogger("appserver")

QUICK_STOP_GRACE = 2.0      # seconds workers get to exit on INT/QUIT
TIMEOUT_GRACE = 2.0         # seconds between the stack dump and SIGKILL
RSS_INTERVAL = 1.0          # seconds between readings of workers' memory
# Thread rows in each scoreboard slot: the most --threads allows, so that a
# HUP that raises it (or turns on worker-class gthread) needs no new map.
THREAD_ROWS = int(SETTINGS["threads"].maximum or 1)


class Arbiter:
    """The master process; see the module comment."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.desired = 0            # set by run(): cfg.workers, resolved
        self.pool = None            # the worker table, made by run()
        self.listeners = []
        self.app = None
        self.ready = False
        self.booted_once = False    # some worker has loaded the app
        self.boot_failures = 0
        self.next_spawn_at = 0.0
        self.next_rss = 0.0
        self.stop_mode = None       # None, "graceful" or "quick"
        self.failure = None         # the AppServerError that ends the run
        self.successor = None       # pid of the new arbiter after USR2
        self.stop_at = None         # end of the shutdown delay after TERM
        self.inherited_paths = []   # unix socket files an old arbiter made
        self.admin = None
        self.reload_began = None    # monotonic time of the HUP being carried out
        self.before_reload = None   # reload.Before: what a failed reload restores
        self.pid = os.getpid()
        sharedlibs.preload()        # before base_modules: a reload keeps them
        self.base_modules = set(sys.modules)

    @property
    def workers(self):
        """``{pid: plan.Worker}`` of the live workers (a copy; for hooks)."""
        return self.pool.workers() if self.pool is not None else {}

    def snapshot(self, now=None):
        """What the watchers read: ``plan.Snapshot`` at ``now``."""
        now = time.monotonic() if now is None else now
        return plan.Snapshot(self.pool.snapshot(now), self.cfg, self.desired,
                             self.readiness.ready, self.readiness.draining,
                             self.stop_mode is not None)

    # -- life cycle ---------------------------------------------------------

    def run(self):
        cfg = self.cfg
        self.access_log = logs.setup(cfg)
        self.predecessor = upgrade.old_arbiter()
        self.readiness = Readiness(systemd.Notifier(), successor=bool(self.predecessor))
        if cfg.pid and not self.predecessor:
            pidfile.check(cfg.pid)
        daemon.check_user(cfg.user, cfg.group)
        if cfg.daemon and not self.predecessor:
            daemon.daemonize()
            self.pid = os.getpid()
        daemon.set_umask(cfg.umask)
        log.info("Starting appserver %s", __version__)
        if cfg.config_file:
            log.info("Config file: %s%s", cfg.config_file, "" if "config" in cfg.cli
                     else " (found in the current directory; -c FILE to choose)")
        self.desired = self.resolve_workers(cfg)   # before on_starting, which may
        hooks.call_strict(cfg.hooks, "on_starting", self)     # set num_workers
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
                self._write_admin_file()
            self.scoreboard = scoreboard.Scoreboard(threads=THREAD_ROWS)
            self.pool = Pool(self.scoreboard)
            self.monitor = Monitor(cfg, self.scoreboard, self.listeners)
            # After USR2, the old generation's pair: its connections come here.
            self.handoff_pair = (handoff.from_env(predecessor=self.predecessor)
                                 or handoff.create_pair())
            # Workers write a byte here to have their slot looked at now.
            self.nudge_r, self.nudge_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self.signals = SignalQueue(HANDLED)
            # As Gunicorn: bound and about to fork; what this hook sets up is
            # inherited by every worker.
            hooks.call(self.cfg.hooks, "when_ready", self)
            self._loop()
        finally:
            self._cleanup()
        if self.failure is not None:
            raise self.failure
        return errors.EXIT_OK

    def resolve_workers(self, cfg):
        """``workers`` as a number; ``auto`` is computed and explained."""
        from appserver.deploy.cpus import resolve_workers
        count, explanation = resolve_workers(cfg.workers, cfg.threads)
        if explanation:
            log.info("%s", explanation)
        return count

    def _load_app(self):
        from appserver.app import loader
        return loader.load_app(self.cfg.app)

    def _listen(self):
        """Sockets from an old arbiter (USR2), else from systemd, else bound."""
        from appserver.config.loading import parse_bind
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
        from appserver.observe.admin import AdminServer, bind_admin
        listener = bind_admin(self.cfg.admin_bind)
        log.info("Admin listener at: %s", listener.url())
        return AdminServer(listener, status.routes(self.snapshot, self._metrics_view))

    def _metrics_view(self):
        return self.monitor.view(self.snapshot())

    def _write_admin_file(self):
        if self.admin is not None:
            status.write_admin_file(self.cfg.pid, self.admin.listener.url())

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
            tick = 0.1 if not self.ready or self.pool.retiring() else 1.0
            self._wait(self.readiness.tick_bound(tick))
            if self.stop_at is not None and time.monotonic() >= self.stop_at:
                self.stop_mode = "graceful"
            self._handle_signals()
            self._reap()
            if self.stop_mode is None:      # a stop decided now: no Ready after it
                self._check_workers(time.monotonic())
        self._stop_workers()

    def _cleanup(self):
        if self.pool is not None and len(self.pool):
            self.pool.kill_all(signal.SIGKILL)
            self._reap(block=True)
        sockets.close_all(self.listeners, unlink=self.successor is None)
        if self.admin is not None:
            self.admin.close(listener_too=True)
            sockets.close_all([self.admin.listener], unlink=self.successor is None)
        if self.cfg.pid:
            pidfile.remove(self.cfg.pid, self.pid)
            if self.admin is not None:
                status.remove_admin_file(self.cfg.pid)
        hooks.call(self.cfg.hooks, "on_exit", self)
        log.info("Shutting down: master %d", self.pid)

    def _hand_over(self):
        """After a USR2 upgrade: take the pid file, tell the old arbiter to go."""
        if not self.predecessor:
            return
        if self.cfg.pid:
            pidfile.write(self.cfg.pid, self.pid)
            self._write_admin_file()
        for listener, path in zip(self.listeners, self.inherited_paths):
            listener.owned_path = path
        self.readiness.took_over(self.pid)
        if self.cfg.upgrade_handoff:
            log.info("Upgrade complete: asking the old arbiter %d to stop",
                     self.predecessor)
            self.pool.signal(self.predecessor, signal.SIGTERM)

    # -- carrying out the plan ---------------------------------------------------

    def _maintain(self):
        """Carry out ``plan.decide``: spawn, and stop replaced workers."""
        if self.stop_mode is not None:
            return
        table = self.pool.snapshot(time.monotonic())
        decision = plan.decide(self.desired, table.workers, table.infos,
                               table.retiring, table.stopping, self.booted_once)
        last = self.desired == 0 and self.successor is None   # nobody to pass to
        for pid in decision.stop:
            log.info("Stopping worker %d gracefully: %s", pid, self.pool.stop(pid, last))
        if decision.spawn and time.monotonic() >= self.next_spawn_at:
            for _ in range(1 if self.boot_failures else decision.spawn):
                self._spawn()

    def _spawn(self):
        pid = self.pool.spawn(time.monotonic(), _lifetime(self.cfg), self._pre_fork,
                              self._become_worker)
        self.monitor.spawned()
        log.info("Booting worker with pid: %d", pid)

    def _pre_fork(self, worker):
        hooks.call(self.cfg.hooks, "pre_fork", self, worker)

    def _become_worker(self, slot, index):
        """In the child: never returns."""
        try:
            systemd.forget_notify()
            self.signals.close()
            if self.admin is not None:
                self.admin.close(listener_too=True)
            worker = Worker(self.cfg, self.listeners, slot, self.app, self.access_log,
                            index + 1, self.handoff_pair, self.nudge_w, server=self,
                            desired=self.desired)
            hooks.call(self.cfg.hooks, "post_fork", self, worker)
            worker.run()
        except BaseException:
            log.exception("Worker %d could not start", os.getpid())
        finally:
            os._exit(errors.EXIT_ERROR)

    def _check_workers(self, now):
        snap = self.snapshot(now)
        table = snap.table
        self._handle_stuck(table)
        self._carry_out(self.monitor.tick(snap))
        if now >= self.next_rss:
            self.next_rss = now + RSS_INTERVAL
            for worker in table.workers:
                self.pool.set_rss(worker.pid, _rss(worker.pid))
        current = [w for w in table.workers if w.pid not in table.retiring]
        for pid, reason in plan.recycle_reasons(
                current, table.infos, now, table.lifetimes,
                self.cfg.max_worker_memory << 20).items():
            log.info("Recycling worker %d: %s", pid, reason)
            self.pool.retire(pid, reason)
        self.readiness.update(table.infos, now)
        fresh = plan.newly_booted(table.workers, table.infos, table.booted)
        if fresh:
            self.pool.booted(fresh)
            self.booted_once = True
            self.boot_failures = 0
        count = len(table.workers)
        if not plan.all_booted(table.workers, table.infos) or count < self.desired:
            return
        if self.stop_at is not None:    # TERM came (shutdown-delay): not ready now
            return
        if self.readiness.booted(count):
            self.ready = True
            log.info("Ready: %d workers booted", count)
            self._hand_over()
        elif self.reload_began is not None and not self.pool.retiring():
            took = now - self.reload_began
            log.info("Reload complete: %d workers on the new code in %.1f s", count, took)
            self._reload_over("reloaded: %d workers on the new code in %.1f s"
                              % (count, took))

    def _reload_failed(self, why):
        """Abandon the replacement: the previous workers keep serving, and the
        replacements still booting are stopped (else the plan would stop old
        workers as a surplus, and mix the generations). The configuration,
        app and process state go back to what they were before the HUP."""
        for pid in self.pool.keep():
            self.pool.stop(pid)
            log.info("Stopping worker %d: its reload failed", pid)
        before, self.before_reload = self.before_reload, None
        if before is not None:
            before.restore()
            if self.cfg is not before.cfg:
                before.restore_logs()
                self.cfg, self.app = before.cfg, before.app
                self.access_log = before.access_log
                self._set_desired(before.desired)
            log.info("Back to the configuration from before the HUP: workers that "
                     "replace the running ones get its settings%s",
                     ", environment and preloaded app" if before.app is not None
                     else " and environment")
        if self.reload_began is not None:
            self._reload_over("reload failed: %s; the previous workers keep serving"
                              % why)

    def _reload_over(self, status):
        self.reload_began = None
        self.before_reload = None
        self.readiness.reload_finished(" ".join(status.split())[:400])

    def _carry_out(self, actions):
        """What the monitor decided: stack dumps, and a reload."""
        for pid in actions.stack_dumps:
            self.pool.signal(pid, actions.stack_signal)
        if actions.reload_from:
            for index in actions.reload_from:
                self.scoreboard.counters(index).clear_reload()
            self.handle_hup()

    def _handle_stuck(self, table):
        for stuck in plan.stuck_workers(table.workers, table.infos, table.now,
                                        self.cfg.timeout, self.cfg.boot_timeout):
            asked = table.timed_out.get(stuck.pid)
            if asked is None:
                self.pool.timed_out(stuck.pid, table.now)
                log.critical("WORKER TIMEOUT (pid:%d) Worker %d %s; dumping its "
                             "stack, then killing it", stuck.pid, stuck.pid,
                             _stuck_phrase(stuck))
                self.pool.signal(stuck.pid, signal.SIGUSR2)
            elif table.now - asked > TIMEOUT_GRACE and asked > 0:
                self.pool.timed_out(stuck.pid, -1.0)
                log.error("Worker %d did not stop after its timeout; sending SIGKILL",
                          stuck.pid)
                self.pool.signal(stuck.pid, signal.SIGKILL)

    # -- exits -------------------------------------------------------------------

    def _reap(self, block=False):
        for gone in self.pool.reap(block):
            if gone.worker is None:
                if gone.pid == self.successor:
                    log.error("The new arbiter %d %s before taking over; this one "
                              "keeps serving", gone.pid, plan.describe_exit(gone.code))
                    self.successor = None
                continue
            self.monitor.exited(gone, self.stop_mode is not None, self.access_log)
            self._worker_exited(gone)
            hooks.call(self.cfg.hooks, "child_exit", self, gone.worker)

    def _worker_exited(self, gone):
        pid, code = gone.pid, gone.code
        expected = gone.stopping or self.stop_mode is not None
        what = plan.describe_exit(code, gone.timed_out)
        if expected:
            log.info("Worker %d %s", pid, what)
        elif code == errors.EXIT_APP_LOAD and not self.ready:
            self._fail(errors.AppLoadError(
                "the application %r could not be loaded or warmed up (see the "
                "error above); fix it and start again" % self.cfg.app))
        elif code == errors.EXIT_APP_LOAD and self.pool.retiring():
            log.error("Reload failed: the new workers cannot load or warm up the "
                      "application (see above); the previous workers keep serving")
            self._reload_failed("the new workers cannot load or warm up the "
                                "application (see the log)")
        elif gone.info.state == scoreboard.BOOTING or code in (errors.EXIT_APP_LOAD,
                                                               errors.EXIT_WORKER_BOOT):
            self._boot_failed(pid, what)
        else:
            log.warning("Worker %d %s; replacing it", pid, what)

    def _boot_failed(self, pid, what):
        self.boot_failures += 1
        if self.boot_failures >= self.cfg.max_boot_failures and self.pool.retiring():
            log.error("Reload failed: %d new workers in a row died while booting "
                      "(last: worker %d %s); the previous workers keep serving",
                      self.boot_failures, pid, what)
            self._reload_failed("%d new workers in a row died while booting (last: "
                                "worker %d %s)" % (self.boot_failures, pid, what))
            self.boot_failures = 0
            return
        if self.boot_failures >= self.cfg.max_boot_failures:
            self._fail(errors.WorkerBootError(
                "workers failed to boot %d times in a row (last: worker %d %s); "
                "giving up" % (self.boot_failures, pid, what)))
            return
        delay = plan.respawn_delay(self.boot_failures)
        self.next_spawn_at = time.monotonic() + delay
        log.warning("Worker %d %s while booting; respawning in %.1f s", pid, what, delay)

    def _fail(self, error):
        log.error("%s", error)
        self.failure = error
        self.stop_mode = "quick"

    # -- stopping ----------------------------------------------------------------

    def _stop_workers(self):
        """Stop every worker: TERM (graceful) or QUIT (quick), then KILL."""
        graceful = self.stop_mode == "graceful"
        self.readiness.stopping(handing_over=self.successor is not None)
        if self.successor is None:      # no serving worker remains: close
            self.pool.mark_last()
        self.pool.kill_all(signal.SIGTERM if graceful else signal.SIGQUIT)
        limit = self.cfg.graceful_timeout if graceful else QUICK_STOP_GRACE
        deadline = time.monotonic() + limit
        while len(self.pool) and time.monotonic() < deadline:
            self._wait(min(0.1, max(0.0, deadline - time.monotonic())))
            if self._quick_requested() and graceful:
                graceful = False
                self.pool.kill_all(signal.SIGQUIT)
                deadline = min(deadline, time.monotonic() + QUICK_STOP_GRACE)
            self._reap()
        if len(self.pool):
            log.warning("Killing %d workers that did not stop in time", len(self.pool))

    def _quick_requested(self):
        """While stopping: True if INT or QUIT came; other signals are ignored."""
        quick = False
        while True:
            signum = self.signals.pop()
            if signum is None:
                return quick
            _log_signal(signum)
            quick = quick or signum in (signal.SIGINT, signal.SIGQUIT)

    # -- signals -----------------------------------------------------------------

    def _handle_signals(self):
        """Act on recorded signals until a stop is decided; the signals after
        it are ``_stop_workers``' (INT or QUIT make the stop quick)."""
        while self.stop_mode is None:
            signum = self.signals.pop()
            if signum is None:
                return
            name = _log_signal(signum)
            getattr(self, "handle_" + name)()

    def handle_term(self):
        delay = self.cfg.shutdown_delay
        if not delay or self.stop_at is not None or self.successor is not None:
            log.info("Received TERM: stopping gracefully")
            self.stop_mode = "graceful"
            return
        log.info("Received TERM: not ready any more; still serving for %.1f s "
                 "(shutdown-delay), then stopping gracefully", delay)
        self.readiness.draining = True
        self.stop_at = time.monotonic() + delay

    def handle_int(self):
        log.info("Received INT or QUIT: stopping now")
        self.stop_mode = "quick"

    handle_quit = handle_int

    def handle_chld(self):
        pass        # the loop reaps after every wakeup

    def handle_usr1(self):
        log.info("Received USR1: reopening log files")
        logs.reopen()
        self.pool.kill_all(signal.SIGUSR1)

    def handle_ttin(self):
        self._set_desired(self.desired + 1)
        log.info("Received TTIN: %d workers wanted", self.desired)

    def handle_ttou(self):
        self._set_desired(max(1, self.desired - 1))
        log.info("Received TTOU: %d workers wanted", self.desired)

    def _set_desired(self, value):
        old, self.desired = self.desired, value
        if value != old:
            hooks.call(self.cfg.hooks, "nworkers_changed", self, value, old)

    def want_workers(self, count):
        """Gunicorn's ``server.num_workers = N`` in a hook: N workers wanted,
        as after TTIN/TTOU (and 0 as after WINCH). In a worker's copy of the
        arbiter (a worker-side hook) it changes nothing, as with Gunicorn,
        and says so."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("num_workers must be a whole number >= 0, got %r" % (count,))
        if os.getpid() != self.pid:
            log.warning("num_workers set to %d in a worker process changes nothing; "
                        "set it from a hook the arbiter runs (on_starting, when_ready, "
                        "on_reload, nworkers_changed, child_exit, pre_fork)", count)
            return
        self._set_desired(count)
        log.info("num_workers set by a hook: %d workers wanted", self.desired)

    def handle_winch(self):
        if os.isatty(0):
            log.info("Received WINCH on a terminal: ignored")
            return
        log.info("Received WINCH: stopping all workers, keeping the arbiter")
        self._set_desired(0)

    def handle_hup(self):
        from appserver.arbiter.reload import Before, ReloadFailed, reload_config
        log.info("Received HUP: reloading")
        self.readiness.reload_started()
        self.reload_began = time.monotonic()
        if self.before_reload is None:      # else the one under way had not booted
            self.before_reload = Before(self.cfg, self.app, self.access_log,
                                        self.desired)
        try:
            self.cfg, self.app, self.access_log = reload_config(self.cfg,
                                                                self.base_modules)
        except ReloadFailed as exc:
            self._reload_failed(exc)
            return
        self._set_desired(self.resolve_workers(self.cfg))
        hooks.call(self.cfg.hooks, "on_reload", self)      # as Gunicorn: new config
        self.pool.retire_all("reload")

    def handle_usr2(self):
        if self.successor is not None or self.predecessor:
            log.warning("Received USR2 during an upgrade: ignored")
            return
        hooks.call(self.cfg.hooks, "pre_exec", self)
        pair = self.handoff_pair
        passed = ([sock.fileno() for sock in pair], dict([handoff.to_env(pair)]))
        self.successor = upgrade.spawn_new_arbiter(self.listeners, self.cfg.cwd,
                                                   passed=passed)
        log.info("Received USR2: started new arbiter %d", self.successor)


def _log_signal(signum):
    """Log Gunicorn's ``Handling signal: NAME`` (not for SIGCHLD); the name."""
    name = signal.Signals(signum).name[3:].lower()
    if signum != signal.SIGCHLD:
        log.info("Handling signal: %s", name)
    return name


def _lifetime(cfg):
    if not cfg.max_worker_lifetime:
        return 0
    return cfg.max_worker_lifetime + random.uniform(0, cfg.max_worker_lifetime_jitter)


def _rss(pid):
    """Resident memory of ``pid`` in bytes, 0 if it cannot be read."""
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _stuck_phrase(stuck):
    if stuck.booting:
        return "did not boot within boot-timeout (%.1f s)" % stuck.silent_for
    if stuck.request_line:
        return "timed out after %.1f s serving %r" % (stuck.silent_for, stuck.request_line)
    return "sent no heartbeat for %.1f s" % stuck.silent_for


def _drain(fd):
    try:
        while os.read(fd, 512):
            pass
    except (BlockingIOError, InterruptedError):
        pass
