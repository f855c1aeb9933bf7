"""Helpers of the supervision tests that know the ``sv_app`` test app.

Contract: ``ServingSampler(server)`` polls how many of the arbiter's workers
are serving (booted: ``sv_app`` recorded ``booted <pid>``; not yet told to
stop) and keeps the lowest count seen; ``wait_booted(server, pids)`` waits
until each of ``pids`` has loaded ``sv_app``; ``wait_for_text`` waits for a
log line also after the arbiter the harness started has exited (a USR2
upgrade); ``wait_exited`` waits for the exit lines of workers;
``log_pids`` reads pids out of the log. Processes, waiting and
load come from ``tests.harness``.
"""
import re
import threading

from tests.harness.process import wait_until
from tests.harness.procfs import children


def log_pids(pattern, text):
    """Integers captured by the first group of ``pattern`` in ``text``."""
    return [int(m.group(1)) for m in re.finditer(pattern, text)]


def wait_for_text(server, pattern, after=0, timeout=10.0):
    """Like ``Server.wait_for_log`` but keeps waiting when the arbiter the
    harness started has exited (after a USR2 upgrade another one logs)."""
    regex = re.compile(pattern)
    return wait_until(lambda: regex.search(server.log()[after:]), timeout,
                      lambda: "%r not in the log:\n%s" % (pattern, server.log()))


class ServingSampler:
    """Polls, every ``period`` seconds, the arbiter's live children and how
    many of them are *serving*: booted (the ``sv_app`` import recorded
    ``booted <pid>`` in ``sv_boot.log``) and not yet told to stop (no
    ``Stopping worker <pid>`` line in the log). Keeps the lowest of each
    (``lowest_children``, ``lowest_serving``) and what was seen then."""

    def __init__(self, server, period=0.005):
        self.server = server
        self.period = period
        self.samples = 0
        self.lowest_children = None
        self.lowest_serving = None
        self.at_lowest = None
        self._stopping = re.compile(r"Stopping worker (\d+)")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self):
        # In this order, so that a snapshot taken while a replacement boots
        # and an old worker is told to stop never undercounts: a stop line is
        # logged only after its replacement recorded its boot, and that
        # replacement is a child from before its boot on.
        stopping = {int(pid) for pid in self._stopping.findall(self.server.log())}
        booted = {int(line.split()[1]) for line in self.server.records("sv_boot.log")}
        live = children(self.server.pid)
        serving = [pid for pid in live if pid in booted and pid not in stopping]
        return live, serving

    def _run(self):
        while not self._stop.is_set():
            live, serving = self.sample()
            self.samples += 1
            if self.lowest_children is None or len(live) < self.lowest_children:
                self.lowest_children = len(live)
            if self.lowest_serving is None or len(serving) < self.lowest_serving:
                self.lowest_serving = len(serving)
                self.at_lowest = (live, serving)
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def wait_booted(server, pids, timeout=10.0):
    """Wait until each of ``pids`` has loaded ``sv_app`` (its ``booted``
    record), so it is past the start of its worker loop."""
    def booted():
        done = {int(line.split()[1]) for line in server.records("sv_boot.log")}
        return set(pids) <= done
    wait_until(booted, timeout, lambda: "%s not booted\n%s" % (pids, server.log()))


def wait_exited(server, pids, after=0, timeout=30):
    """Wait for ``Worker N exited`` of each of ``pids`` in the log after ``after``."""
    # Generous: each waits for a replacement to boot first, one at a time,
    # and the full suite may run on a machine shared with other suites.
    for pid in pids:
        server.wait_for_log(r"Worker %d exited" % pid, after=after, timeout=timeout)
