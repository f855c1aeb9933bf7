"""The arbiter's watch over its workers: metrics totals, slow requests, dev reload.

``Monitor(arbiter)`` lives in the arbiter (one process, one thread: no lock).
The arbiter tells it ``spawned()`` for every fork and ``exited(worker, info,
code)`` for every reaped worker, before the worker's slot is released: the
slot's counters are then added to the retired totals, so the sums never go
down, and the exit is counted by cause (``exit_cause``); a worker killed
(SIGKILL) in a timed-out request gets that request's 504 access line here. ``tick(now)``, once
per loop turn, warns about requests running past ``slow-request`` (once per
request; the worker is sent ``STACK_SIGNAL`` and logs its stack), answers a
worker's reload flag (``--reload``) with a graceful reload, and pushes StatsD
once a second. ``view(now)`` is what ``/metrics`` and StatsD show: the live
slots plus the retired totals, worker states, memory, listen backlogs.
"""

import logging
import os
import socket
import struct
import time
from collections import Counter, namedtuple

from appserver import errors, metrics, scoreboard
from appserver.observe import STACK_SIGNAL, rejected_environ
from appserver.requestid import new_id

log = logging.getLogger("appserver")

_TCP_INFO = struct.Struct("<8B6I")    # ..., tcpi_unacked, tcpi_sacked

View = namedtuple("View", "stats states wanted rss backlog starts exits "
                          "boot_counts boot_sum")


def exit_cause(pid, info, code, retiring, timed_out, stopping, stopping_all):
    """Why worker ``pid`` exited, one of ``metrics.EXIT_CAUSES``."""
    if pid in timed_out:
        return "timeout"
    reason = retiring.get(pid) or ""
    for prefix, cause in (("max-requests", "max-requests"), ("reload", "reload"),
                          ("max-worker-lifetime", "lifetime"),
                          ("max-worker-memory", "memory")):
        if reason.startswith(prefix):
            return cause
    if stopping_all:
        return "shutdown"
    if pid in stopping:
        return "scale-down"
    if info.state == scoreboard.BOOTING or code in (errors.EXIT_APP_LOAD,
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

    def __init__(self, arbiter):
        self.arbiter = arbiter
        self.retired = metrics.zero()
        self.boot_counts = [0] * (len(metrics.BOOT_BUCKETS) + 1)
        self.boot_sum = 0.0
        self.starts = 0
        self.exits = Counter()
        self.slow_seen = {}             # pid -> request start already reported
        self.next_push = 0.0
        self.statsd = None
        if arbiter.cfg.statsd_host:
            from appserver.statsd import StatsD
            self.statsd = StatsD(arbiter.cfg.statsd_host, arbiter.cfg.statsd_prefix)

    # -- events from the arbiter ----------------------------------------------

    def spawned(self):
        self.starts += 1

    def exited(self, worker, info, code):
        arb = self.arbiter
        cause = exit_cause(worker.pid, info, code, arb.retiring, arb.timed_out,
                           arb.stopping, arb.stop_mode is not None)
        self.exits[cause] += 1
        if cause == "timeout" and code < 0 and info.request_line:
            self._killed_request(info)
        stats = arb.scoreboard.stats(worker.index)
        metrics.add(self.retired, stats)
        self._count_boot(stats[metrics.BOOT_SECONDS])
        self.slow_seen.pop(worker.pid, None)
        return cause

    def _killed_request(self, info):
        """The access line of a request whose worker had to be killed (504)."""
        access_log = self.arbiter.access_log
        environ = rejected_environ(None, info.request_line.encode("latin-1"))
        environ["appserver.request_id"] = new_id()
        duration = time.monotonic() - info.request_start
        access_log.write(environ, 504, 0, duration)
        metrics.count(self.retired, environ.get("REQUEST_METHOD"), 504, duration)

    def _count_boot(self, seconds):
        if seconds > 0:
            self.boot_counts[metrics.boot_bucket(seconds)] += 1
            self.boot_sum += seconds

    # -- once per loop turn ------------------------------------------------------

    def tick(self, now):
        arb = self.arbiter
        if arb.cfg.slow_request:
            self._slow_requests(now, arb.cfg.slow_request)
        if arb.cfg.reload and arb.stop_mode is None:
            self._reload_flags()
        if self.statsd is not None and now >= self.next_push:
            self.next_push = now + 1.0
            self.statsd.push(self.view(now))

    def _slow_requests(self, now, threshold):
        arb = self.arbiter
        for worker in list(arb.workers.values()):
            info = arb.scoreboard.read(worker.index)
            if (info.pid != worker.pid or info.state != scoreboard.BUSY
                    or not info.request_start or now - info.request_start < threshold
                    or self.slow_seen.get(worker.pid) == info.request_start
                    or worker.pid in arb.timed_out):
                continue
            self.slow_seen[worker.pid] = info.request_start
            log.warning("Slow request: worker %d has been serving %r for %.1f s "
                        "(slow-request %g s); it logs its stack next",
                        worker.pid, info.request_line, now - info.request_start,
                        threshold)
            try:
                os.kill(worker.pid, STACK_SIGNAL)
            except ProcessLookupError:
                pass

    def _reload_flags(self):
        arb = self.arbiter
        flagged = [w for w in arb.workers.values()
                   if arb.scoreboard.stats(w.index)[metrics.RELOAD_FLAG]]
        if not flagged:
            return
        for worker in flagged:
            arb.scoreboard.counters(worker.index).clear_reload()
        log.info("Reload: worker %d saw a source file change; reloading gracefully",
                 flagged[0].pid)
        arb._on_hup()

    # -- what /metrics and StatsD show ---------------------------------------------

    def view(self, now):
        arb = self.arbiter
        stats = list(self.retired)
        boot_counts, boot_sum = list(self.boot_counts), self.boot_sum
        states = {name: 0 for name in scoreboard.STATE_NAMES[1:]}
        rss = []
        for worker in sorted(arb.workers.values(), key=lambda w: w.index):
            info = arb.scoreboard.read(worker.index)
            if info.pid != worker.pid:
                continue
            cells = arb.scoreboard.stats(worker.index)
            metrics.add(stats, cells)
            seconds = cells[metrics.BOOT_SECONDS]
            if seconds > 0:
                boot_counts[metrics.boot_bucket(seconds)] += 1
                boot_sum += seconds
            states[scoreboard.STATE_NAMES[info.state]] += 1
            rss.append((worker.index + 1, info.rss))
        backlog = {}
        for listener in arb.listeners:
            value = listen_backlog(listener)
            if value is not None:
                backlog[listener.url()] = value
        return View(stats, states, arb.desired, rss, backlog, self.starts,
                    dict(self.exits), boot_counts, boot_sum)
