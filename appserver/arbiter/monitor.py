"""The arbiter's watch over its workers: metrics totals, slow requests, dev reload.

``Monitor(cfg, scoreboard, listeners)`` lives in the arbiter (one process, one
thread: no lock). It reads what it is given, never the arbiter: a
``plan.Snapshot`` each turn, and a ``pool.Exit`` for each reaped worker.
``spawned()`` counts a fork; ``exited(gone, stopping_all, access_log)`` adds
the dead worker's counters to the retired totals, so the sums never go down,
and counts the exit by cause (``exit_cause``); a worker killed (SIGKILL) in a
timed-out request gets that request's 504 access line here (each request
of its threads, with ``--threads``). ``tick(snapshot)``,
once per loop turn, returns ``Actions`` for the arbiter to carry out: the
workers to send ``STACK_SIGNAL`` (requests running past ``slow-request``, once
per request, with a warning logged here), and the slots whose reload flag is
up (``--reload``: a graceful reload); it also pushes StatsD once a second.
``view(snapshot)`` is what ``/metrics`` and StatsD show: the live slots plus
the retired totals, worker states, memory, listen backlogs.
"""

import logging
import socket
import struct
import time
from collections import Counter, namedtuple

from appserver import errors
from appserver.observe import metrics, scoreboard
from appserver.observe.observer import rejected_environ
from appserver.observe.requestid import new_id
from appserver.signals import STACK_SIGNAL

log = logging.getLogger("appserver")

_TCP_INFO = struct.Struct("<8B6I")    # ..., tcpi_unacked, tcpi_sacked

# ``threads``: {"busy": n, "idle": n}, the requests in the app and the
# room for more, over every live worker (a worker without threads is one).
View = namedtuple("View", "stats states wanted rss backlog starts exits "
                          "boot_counts boot_sum threads", defaults=(None,))

# What the arbiter should do after a tick: send ``stack_signal`` to the
# ``stack_dumps`` pids; clear the reload flag of the ``reload_from`` slots
# and reload gracefully (when there are any).
Actions = namedtuple("Actions", "stack_dumps stack_signal reload_from")


def exit_cause(gone, stopping_all):
    """Why the worker ``gone`` (a ``pool.Exit``) exited, one of
    ``metrics.EXIT_CAUSES``."""
    if gone.timed_out:
        return "timeout"
    reason = gone.retiring or ""
    for prefix, cause in (("max-requests", "max-requests"), ("reload", "reload"),
                          ("request timeout", "timeout"),
                          ("max-worker-lifetime", "lifetime"),
                          ("max-worker-memory", "memory")):
        if reason.startswith(prefix):
            return cause
    if stopping_all:
        return "shutdown"
    if gone.stopping:
        return "scale-down"
    if gone.info.state == scoreboard.BOOTING or gone.code in (errors.EXIT_APP_LOAD,
                                                              errors.EXIT_WORKER_BOOT):
        return "boot-failure"
    return "crash"


def listen_backlog(listener):
    """``(queued, size)`` of a TCP listener's accept queue, or None (Linux)."""
    if listener.kind != "tcp" or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        raw = listener.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO,
                                       _TCP_INFO.size)
    except OSError:
        return None
    if len(raw) < _TCP_INFO.size:
        return None
    fields = _TCP_INFO.unpack(raw)
    return fields[12], fields[13]


class Monitor:
    """See the module comment."""

    def __init__(self, cfg, scoreboard_, listeners):
        self.scoreboard = scoreboard_
        self.listeners = listeners
        self.retired = metrics.zero()
        self.boot_counts = [0] * (len(metrics.BOOT_BUCKETS) + 1)
        self.boot_sum = 0.0
        self.starts = 0
        self.exits = Counter()
        self.slow_seen = {}             # pid -> request starts already reported
        self.next_push = 0.0
        self.statsd = None
        if cfg.statsd_host:
            from appserver.observe.statsd import StatsD
            self.statsd = StatsD(cfg.statsd_host, cfg.statsd_prefix)

    # -- events from the arbiter ----------------------------------------------

    def spawned(self):
        self.starts += 1

    def exited(self, gone, stopping_all, access_log):
        """Count the exit ``gone`` (a ``pool.Exit``); returns its cause."""
        cause = exit_cause(gone, stopping_all)
        self.exits[cause] += 1
        if cause == "timeout" and gone.code < 0:
            for _, start, line in scoreboard.running(gone.info):
                self._killed_request(line, start, access_log)
        metrics.add(self.retired, gone.stats)
        self._count_boot(gone.stats[metrics.BOOT_SECONDS])
        self.slow_seen.pop(gone.pid, None)
        return cause

    def _killed_request(self, line, start, access_log):
        """The access line of a request whose worker had to be killed (504)."""
        environ = rejected_environ(None, line.encode("latin-1"))
        environ["appserver.request_id"] = new_id()
        duration = time.monotonic() - start
        access_log.write(environ, 504, 0, duration)
        metrics.count(self.retired, environ.get("REQUEST_METHOD"), 504, duration)

    def _count_boot(self, seconds):
        if seconds > 0:
            self.boot_counts[metrics.boot_bucket(seconds)] += 1
            self.boot_sum += seconds

    # -- once per loop turn ------------------------------------------------------

    def tick(self, snap):
        """``Actions`` for this turn, from ``snap`` (a ``plan.Snapshot``)."""
        stack, reload_from = [], []
        if snap.cfg.slow_request:
            stack = self._slow_requests(snap.table, snap.cfg.slow_request)
        if snap.cfg.reload and not snap.stopping_all:
            reload_from = self._reload_flags(snap.table)
        now = snap.table.now
        if self.statsd is not None and now >= self.next_push:
            self.next_push = now + 1.0
            self.statsd.push(self.view(snap))
        return Actions(stack, STACK_SIGNAL, reload_from)

    def _slow_requests(self, table, threshold):
        found = []
        for worker, info in _live(table):
            if worker.pid in table.timed_out:
                continue
            seen = self.slow_seen.get(worker.pid, ())
            running = scoreboard.running(info)
            self.slow_seen[worker.pid] = {start for _, start, _ in running} & set(seen)
            for thread, start, line in running:
                if table.now - start < threshold or start in seen:
                    continue
                self.slow_seen[worker.pid].add(start)
                log.warning("Slow request: worker %d%s has been serving %r for %.1f s "
                            "(slow-request %g s); it logs its stack next",
                            worker.pid, " thread %d" % thread if thread else "", line,
                            table.now - start, threshold)
                if worker.pid not in found:
                    found.append(worker.pid)
        return found

    def _reload_flags(self, table):
        flagged = [w for w in table.workers
                   if self.scoreboard.stats(w.index)[metrics.RELOAD_FLAG]]
        if flagged:
            log.info("Reload: worker %d saw a source file change; reloading "
                     "gracefully", flagged[0].pid)
        return [w.index for w in flagged]

    # -- what /metrics and StatsD show ---------------------------------------------

    def view(self, snap):
        stats = list(self.retired)
        boot_counts, boot_sum = list(self.boot_counts), self.boot_sum
        states = {state.label: 0 for state in scoreboard.WorkerState
                  if state != scoreboard.EMPTY}
        threads = {"busy": 0, "idle": 0}
        rss = []
        for worker, info in sorted(_live(snap.table), key=lambda wi: wi[0].index):
            cells = self.scoreboard.stats(worker.index)
            metrics.add(stats, cells)
            seconds = cells[metrics.BOOT_SECONDS]
            if seconds > 0:
                boot_counts[metrics.boot_bucket(seconds)] += 1
                boot_sum += seconds
            states[scoreboard.WorkerState(info.state).label] += 1
            busy, idle = scoreboard.request_slots(info)
            threads["busy"] += busy
            threads["idle"] += idle
            rss.append((worker.index + 1, info.rss))
        backlog = {}
        for listener in self.listeners:
            value = listen_backlog(listener)
            if value is not None:
                backlog[listener.url()] = value
        return View(stats, states, snap.desired, rss, backlog, self.starts,
                    dict(self.exits), boot_counts, boot_sum, threads)


def _live(table):
    """``(worker, info)`` for each worker whose slot is still its own."""
    for worker in table.workers:
        info = table.infos.get(worker.index)
        if info is not None and info.pid == worker.pid:
            yield worker, info
