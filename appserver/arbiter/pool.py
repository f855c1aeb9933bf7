"""The arbiter's worker table: fork, reap, retire, kill. Its only owner.

``Pool(scoreboard)`` holds every live worker the arbiter forked and what the
arbiter intends for each: retiring (and why), sent TERM, timed out, allowed
lifetime, booted. Nothing else changes these. The arbiter asks the pool to
``spawn``, ``retire`` (or ``keep`` after a failed reload), ``stop``,
``signal`` and ``kill_all``; it learns of deaths from ``reap``, which yields
one ``Exit`` per child: what the table knew of a worker when it died, taken
before its scoreboard slot is released. ``snapshot(now)`` is the frozen
``plan.Table`` the plan and the watchers decide from.
"""

import os
import signal
from collections import namedtuple

from appserver.arbiter import plan

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
           signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN,
           signal.SIGTTOU, signal.SIGWINCH)

# A reaped child. ``worker`` is None for a child that is no worker (a new
# arbiter after USR2); then only ``pid`` and ``code`` mean something.
# ``retiring`` is the reason it was being replaced (or None), ``stopping``
# whether it was sent TERM, ``timed_out`` whether its heartbeat had stopped.
Exit = namedtuple("Exit", "pid code worker info stats retiring stopping timed_out")


class Pool:
    """The live workers and the arbiter's intent for each; see the module."""

    def __init__(self, scoreboard):
        self.scoreboard = scoreboard
        self._workers = {}          # pid -> plan.Worker
        self._retiring = {}         # pid -> why it is being replaced
        self._stopping = set()      # pids sent TERM
        self._timed_out = {}        # pid -> when its stack dump was asked for
        self._lifetimes = {}        # pid -> allowed age in seconds
        self._booted = set()        # pids that have left the booting state

    # -- reading ----------------------------------------------------------------

    def __len__(self):
        return len(self._workers)

    def __contains__(self, pid):
        return pid in self._workers

    def pids(self):
        return list(self._workers)

    def workers(self):
        """``{pid: plan.Worker}``, a copy."""
        return dict(self._workers)

    def retiring(self):
        return bool(self._retiring)

    def snapshot(self, now):
        """The table frozen at ``now``, with every worker's scoreboard slot."""
        workers = list(self._workers.values())
        infos = {w.index: self.scoreboard.read(w.index) for w in workers}
        return plan.Table(now, workers, infos, dict(self._retiring),
                          frozenset(self._stopping), dict(self._timed_out),
                          dict(self._lifetimes), frozenset(self._booted))

    # -- fork -------------------------------------------------------------------

    def spawn(self, now, lifetime, pre_fork, child):
        """Fork a worker; ``child(slot, index)`` runs in it and never returns.

        ``pre_fork(worker)`` is called first with the worker-to-be (pid None).
        Signals stay blocked across the fork: one sent to the new worker
        before it has its own handlers waits for them instead of being lost.
        """
        index = plan.free_index(self._workers.values(), self.scoreboard.slots)
        slot = self.scoreboard.claim(index, 0, now)
        pre_fork(plan.Worker(None, index, now))
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        pid = os.fork()
        if pid == 0:
            child(slot, index)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self.scoreboard.set_pid(index, pid)
        self._workers[pid] = plan.Worker(pid, index, now)
        self._lifetimes[pid] = lifetime
        return pid

    # -- intent -----------------------------------------------------------------

    def retire(self, pid, reason):
        """Have ``pid`` replaced: it serves until a new worker has booted."""
        if pid in self._workers and pid not in self._stopping:
            self._retiring[pid] = reason

    def retire_all(self, reason):
        for pid in self._workers:
            self.retire(pid, reason)

    def keep(self):
        """Forget every pending retirement (a reload that failed); returns the
        pids of the replacements still booting, which the caller stops."""
        booting = [pid for pid in self._workers if pid not in self._booted
                   and pid not in self._retiring and pid not in self._stopping]
        self._retiring.clear()
        return booting

    def stop(self, pid, last=False):
        """Send TERM to ``pid``; returns why it is stopped. ``last``: no
        serving worker will remain to take its connections (it closes them)."""
        reason = self._retiring.get(pid, "fewer workers wanted")
        if last and pid in self._workers:
            self.scoreboard.set_last(self._workers[pid].index)
        self._stopping.add(pid)
        self.signal(pid, signal.SIGTERM)
        return reason

    def mark_last(self):
        """Tell every worker that no serving worker will remain (a final stop)."""
        for worker in self._workers.values():
            self.scoreboard.set_last(worker.index)

    def booted(self, pids):
        self._booted.update(pids)

    def timed_out(self, pid, now):
        """Note that ``pid``'s stack dump was asked for at ``now``."""
        self._timed_out[pid] = now

    def set_rss(self, pid, rss):
        worker = self._workers.get(pid)
        if worker is not None:
            self.scoreboard.set_rss(worker.index, rss)

    # -- signals ----------------------------------------------------------------

    def signal(self, pid, signum):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    def kill_all(self, signum):
        for pid in list(self._workers):
            self.signal(pid, signum)

    # -- reap -------------------------------------------------------------------

    def reap(self, block=False):
        """Collect every child that has exited, yielding an ``Exit`` for each.

        A generator: each child is collected only after the caller has dealt
        with the previous one, so its record reflects what that changed (a
        worker stopped because another one's exit failed a reload)."""
        while True:
            try:
                pid, status = os.waitpid(-1, 0 if block and self._workers else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            yield self._forget(pid, os.waitstatus_to_exitcode(status))

    def _forget(self, pid, code):
        worker = self._workers.pop(pid, None)
        if worker is None:
            return Exit(pid, code, None, None, None, None, False, False)
        info = self.scoreboard.read(worker.index)
        stats = self.scoreboard.stats(worker.index)
        self.scoreboard.release(worker.index)
        stopping = pid in self._stopping
        self._stopping.discard(pid)
        self._booted.discard(pid)
        self._lifetimes.pop(pid, None)
        return Exit(pid, code, worker, info, stats, self._retiring.pop(pid, None),
                    stopping, self._timed_out.pop(pid, None) is not None)
