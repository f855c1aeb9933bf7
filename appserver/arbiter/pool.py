"""The arbiter's worker table: fork, reap, watch, replace, stop.

Mixed into ``Arbiter``. ``_maintain`` carries out ``plan.plan``;
``_check_workers`` reads the scoreboard each turn (stuck workers get a stack
dump then SIGKILL, memory is sampled, recycle causes are noted, readiness is
reported); ``_reap`` collects exits and decides what each one means (a stop
we asked for, a boot failure with backoff, an app that cannot load, a
crash); ``_stop_workers`` carries out a graceful or quick stop.
"""

import logging
import os
import random
import signal
import time

from appserver import errors, hooks, scoreboard
from appserver.arbiter import plan as supervisor
from appserver.worker import Worker     # imported before fork: shared, and
                                         # no worker pays for it while booting

log = logging.getLogger("appserver")

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
           signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN,
           signal.SIGTTOU, signal.SIGWINCH)
QUICK_STOP_GRACE = 2.0      # seconds workers get to exit on INT/QUIT
TIMEOUT_GRACE = 2.0         # seconds between the stack dump and SIGKILL
RSS_INTERVAL = 1.0          # seconds between readings of workers' memory


class WorkerPool:
    """Worker-table methods of ``Arbiter``; see the module comment."""

    def _maintain(self):
        """Carry out ``plan.plan``: spawn, and stop replaced workers."""
        if self.stop_mode is not None:
            return
        workers = list(self.workers.values())
        infos = self._infos(workers)
        plan = supervisor.plan(self.desired, workers, infos, self.retiring,
                               self.stopping, self.booted_once)
        for pid in plan.stop:
            self._stop_one(pid)
        if plan.spawn and time.monotonic() >= self.next_spawn_at:
            for _ in range(1 if self.boot_failures else plan.spawn):
                self._spawn()

    def _infos(self, workers):
        return {w.index: self.scoreboard.read(w.index) for w in workers}

    def _stop_one(self, pid):
        reason = self.retiring.get(pid, "fewer workers wanted")
        log.info("Stopping worker %d gracefully: %s", pid, reason)
        if self.desired == 0 and self.successor is None and pid in self.workers:
            self.scoreboard.set_last(self.workers[pid].index)   # nobody to pass to
        self.stopping.add(pid)
        self._signal(pid, signal.SIGTERM)

    def _spawn(self):
        index = supervisor.free_index(self.workers.values(), self.scoreboard.slots)
        now = time.monotonic()
        slot = self.scoreboard.claim(index, 0, now)
        hooks.call(self.cfg.hooks, "pre_fork", self, supervisor.Worker(None, index, now))
        # Signals stay blocked across the fork: one sent to the new worker
        # before it has its own handlers waits for them instead of being lost.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        pid = os.fork()
        if pid == 0:
            self._become_worker(slot, index)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self.monitor.spawned()
        self.scoreboard.set_pid(index, pid)
        self.workers[pid] = supervisor.Worker(pid, index, now)
        self.lifetimes[pid] = _lifetime(self.cfg)
        log.info("Booting worker with pid: %d", pid)

    def _become_worker(self, slot, index):
        """In the child: never returns."""
        try:
            self.signals.close()
            if self.admin is not None:
                self.admin.close(listener_too=True)
            worker = Worker(self.cfg, self.listeners, slot, self.app, self.access_log,
                            index + 1, self.handoff_pair, self.nudge_w, server=self)
            hooks.call(self.cfg.hooks, "post_fork", self, worker)
            worker.run()
        except BaseException:
            log.exception("Worker %d could not start", os.getpid())
        finally:
            os._exit(errors.EXIT_ERROR)

    def _check_workers(self, now):
        workers = list(self.workers.values())
        infos = self._infos(workers)
        self._handle_stuck(workers, infos, now)
        self.monitor.tick(now)
        if now >= self.next_rss:
            self.next_rss = now + RSS_INTERVAL
            for worker in workers:
                self.scoreboard.set_rss(worker.index, _rss(worker.pid))
        current = [w for w in workers if w.pid not in self.retiring]
        for pid, reason in supervisor.recycle_reasons(
                current, infos, now, self.lifetimes,
                self.cfg.max_worker_memory << 20).items():
            log.info("Recycling worker %d: %s", pid, reason)
            self.retiring[pid] = reason
        self.readiness.update(infos, now)
        fresh = supervisor.newly_booted(workers, infos, self.booted)
        if fresh:
            self.booted.update(fresh)
            self.booted_once = True
            self.boot_failures = 0
        if supervisor.all_booted(workers, infos) and len(workers) >= self.desired:
            if self.readiness.booted(len(workers), bool(self.retiring)):
                self.ready = True
                log.info("Ready: %d workers booted", len(workers))
                self._hand_over()
                if not self.when_ready_called:
                    self.when_ready_called = True
                    hooks.call(self.cfg.hooks, "when_ready", self)

    def _handle_stuck(self, workers, infos, now):
        for stuck in supervisor.stuck_workers(workers, infos, now, self.cfg.timeout,
                                              self.cfg.boot_timeout):
            asked = self.timed_out.get(stuck.pid)
            if asked is None:
                self.timed_out[stuck.pid] = now
                log.error("Worker %d %s; dumping its stack, then killing it",
                          stuck.pid, _stuck_phrase(stuck))
                self._signal(stuck.pid, signal.SIGUSR2)
            elif now - asked > TIMEOUT_GRACE and asked > 0:
                self.timed_out[stuck.pid] = -1.0
                log.error("Worker %d did not stop after its timeout; sending SIGKILL",
                          stuck.pid)
                self._signal(stuck.pid, signal.SIGKILL)

    def _reap(self, block=False):
        while True:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.successor:
                log.error("The new arbiter %d %s before taking over; this one "
                          "keeps serving", pid, supervisor.describe_exit(
                              os.waitstatus_to_exitcode(status)))
                self.successor = None
            worker = self.workers.pop(pid, None)
            if worker is not None:
                info = self.scoreboard.read(worker.index)
                code = os.waitstatus_to_exitcode(status)
                self.monitor.exited(worker, info, code)
                self.scoreboard.release(worker.index)
                self._worker_exited(worker, info, code)
                hooks.call(self.cfg.hooks, "child_exit", self, worker)

    def _worker_exited(self, worker, info, code):
        pid = worker.pid
        expected = pid in self.stopping or self.stop_mode is not None
        for table in (self.retiring, self.timed_out, self.lifetimes):
            table.pop(pid, None)
        self.stopping.discard(pid)
        self.booted.discard(pid)
        what = supervisor.describe_exit(code)
        if expected:
            log.info("Worker %d %s", pid, what)
        elif code == errors.EXIT_APP_LOAD and not self.ready:
            self._fail(errors.AppLoadError(
                "the application %r could not be loaded (see the error above); "
                "fix it and start again" % self.cfg.app))
        elif code == errors.EXIT_APP_LOAD and self.retiring:
            log.error("Reload failed: the new workers cannot load the application "
                      "(see above); the previous workers keep serving")
            self.retiring.clear()
        elif info.state == scoreboard.BOOTING or code in (errors.EXIT_APP_LOAD,
                                                          errors.EXIT_WORKER_BOOT):
            self._boot_failed(pid, what)
        else:
            log.warning("Worker %d %s; replacing it", pid, what)

    def _boot_failed(self, pid, what):
        self.boot_failures += 1
        if self.boot_failures >= self.cfg.max_boot_failures and self.retiring:
            log.error("Reload failed: %d new workers in a row died while booting "
                      "(last: worker %d %s); the previous workers keep serving",
                      self.boot_failures, pid, what)
            self.retiring.clear()
            self.boot_failures = 0
            return
        if self.boot_failures >= self.cfg.max_boot_failures:
            self._fail(errors.WorkerBootError(
                "workers failed to boot %d times in a row (last: worker %d %s); "
                "giving up" % (self.boot_failures, pid, what)))
            return
        delay = supervisor.respawn_delay(self.boot_failures)
        self.next_spawn_at = time.monotonic() + delay
        log.warning("Worker %d %s while booting; respawning in %.1f s", pid, what, delay)

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
        self.readiness.stopping(handing_over=self.successor is not None)
        if self.successor is None:      # no serving worker remains: close
            for worker in self.workers.values():
                self.scoreboard.set_last(worker.index)
        self._kill_all(signal.SIGTERM if graceful else signal.SIGQUIT)
        limit = self.cfg.graceful_timeout if graceful else QUICK_STOP_GRACE
        deadline = time.monotonic() + limit
        while self.workers and time.monotonic() < deadline:
            self._wait(min(0.1, max(0.0, deadline - time.monotonic())))
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
