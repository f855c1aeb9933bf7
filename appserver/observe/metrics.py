"""Request metrics: per-worker counters in the scoreboard slot, summed by the arbiter.

Layout: each scoreboard slot holds, at ``scoreboard.STATS_OFFSET``, ``FIELDS``
8-byte cells: requests by method (``METHODS``) and status class (``CLASSES``),
a request-duration histogram (``BUCKETS``, seconds, plus +Inf), bytes
received and sent, the duration sum and the worker's boot duration (doubles),
and the dev-reload flag. A worker writes only its own cells, through
``Counters`` (memoryview item stores: no lock, no system call, about a
microsecond per request); ``read(mem, offset)`` snapshots a slot as a
``Stats`` list the arbiter can add up (``add``). Counters never go down: the
arbiter adds each exited worker's last snapshot to its retired totals
(``appserver.arbiter.monitor``). ``render`` writes the Prometheus text format.
"""

import struct
from bisect import bisect_left

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other")
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BOOT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
EXIT_CAUSES = ("timeout", "memory", "max-requests", "lifetime", "reload", "crash",
               "boot-failure", "scale-down", "shutdown")

REQUESTS = 0                                    # first of len(METHODS) * 5 cells
HISTOGRAM = REQUESTS + len(METHODS) * len(CLASSES)
BYTES_IN = HISTOGRAM + len(BUCKETS) + 1
BYTES_OUT = BYTES_IN + 1
DURATION_SUM = BYTES_OUT + 1                    # double
BOOT_SECONDS = DURATION_SUM + 1                 # double
RELOAD_FLAG = BOOT_SECONDS + 1
FIELDS = RELOAD_FLAG + 1
SIZE = FIELDS * 8
_SLOT = struct.Struct("<%dQ2dQ" % DURATION_SUM)
assert _SLOT.size == SIZE


_ROW = {m: REQUESTS + i * len(CLASSES) for i, m in enumerate(METHODS)}
_OTHER_ROW = _ROW["other"]
_CLASS_OF = (0, 0, 1, 2, 3, 4, 4, 4, 4, 4)      # status // 100 -> class (clamped)


def cell(method, status):
    """The index of the requests cell for ``method`` and ``status``."""
    return _ROW.get(method, _OTHER_ROW) + _CLASS_OF[status // 100 if status < 1000 else 9]


class Counters:
    """A worker's writer for the metric cells of its own slot."""

    __slots__ = ("_q", "_d", "_base", "_rows", "_other", "_histogram", "_in", "_out",
                 "_sum")

    def __init__(self, mem, offset):
        self._q = memoryview(mem).cast("Q")
        self._d = memoryview(mem).cast("d")
        self._base = base = offset // 8
        # Absolute cell indexes, worked out once: the hot path only adds.
        self._rows = {method: base + row for method, row in _ROW.items()}
        self._other = base + _OTHER_ROW
        self._histogram = base + HISTOGRAM
        self._in, self._out, self._sum = base + BYTES_IN, base + BYTES_OUT, base + DURATION_SUM

    def record(self, method, status, duration, bytes_in, bytes_out):
        """Count one request: a handful of stores into shared memory."""
        q = self._q
        q[self._rows.get(method, self._other)
          + _CLASS_OF[status // 100 if status < 1000 else 9]] += 1
        q[self._histogram + bisect_left(BUCKETS, duration)] += 1
        q[self._in] += bytes_in
        q[self._out] += bytes_out
        self._d[self._sum] += duration

    def booted(self, seconds):
        self._d[self._base + BOOT_SECONDS] = seconds

    def ask_reload(self):
        self._q[self._base + RELOAD_FLAG] = 1

    def clear_reload(self):
        self._q[self._base + RELOAD_FLAG] = 0


def read(mem, offset):
    """A snapshot of one slot's cells as a list (ints, and floats at doubles)."""
    return list(_SLOT.unpack_from(mem, offset))


def zero():
    return [0] * DURATION_SUM + [0.0, 0.0, 0]


def add(total, stats):
    """Add a slot snapshot into ``total`` (boot and reload cells excluded)."""
    for i in range(DURATION_SUM + 1):
        total[i] += stats[i]


def count(stats, method, status, duration):
    """Count one request into a snapshot list (for requests no worker counted)."""
    stats[cell(method, status)] += 1
    stats[HISTOGRAM + bisect_left(BUCKETS, duration)] += 1
    stats[DURATION_SUM] += duration


def boot_bucket(seconds):
    return bisect_left(BOOT_BUCKETS, seconds)


# -- Prometheus text format ------------------------------------------------------

def _labels(**labels):
    return "{%s}" % ",".join('%s="%s"' % (k, _escape(str(v)))
                             for k, v in labels.items())


def _escape(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(out, name, kind, help_text):
    out.append("# HELP %s %s\n# TYPE %s %s\n" % (name, help_text, name, kind))


def _histogram(out, name, bounds, counts, total_sum):
    running = 0
    for bound, count in zip(bounds + (float("inf"),), counts):
        running += count
        le = "+Inf" if bound == float("inf") else repr(bound)
        out.append('%s_bucket{le="%s"} %d\n' % (name, le, running))
    out.append("%s_sum %r\n%s_count %d\n" % (name, float(total_sum), name, running))


def render(view):
    """The Prometheus text exposition of a ``monitor.View``."""
    out = []
    stats = view.stats
    _family(out, "appserver_requests_total", "counter",
            "Requests answered, by method and status class.")
    for m, method in enumerate(METHODS):
        for k, klass in enumerate(CLASSES):
            out.append("appserver_requests_total%s %d\n" % (
                _labels(method=method, status=klass), stats[REQUESTS + m * 5 + k]))
    _family(out, "appserver_request_duration_seconds", "histogram",
            "Time from a complete request head to the end of the response.")
    _histogram(out, "appserver_request_duration_seconds", BUCKETS,
               stats[HISTOGRAM:BYTES_IN], stats[DURATION_SUM])
    _family(out, "appserver_received_bytes_total", "counter",
            "Bytes received in requests (heads and bodies).")
    out.append("appserver_received_bytes_total %d\n" % stats[BYTES_IN])
    _family(out, "appserver_sent_bytes_total", "counter",
            "Bytes sent in responses (heads and bodies).")
    out.append("appserver_sent_bytes_total %d\n" % stats[BYTES_OUT])
    _family(out, "appserver_workers", "gauge", "Live workers by state.")
    for state, count in view.states.items():
        out.append("appserver_workers%s %d\n" % (_labels(state=state), count))
    if view.threads is not None:
        _family(out, "appserver_threads", "gauge",
                "Requests in the app (busy) and room for more (idle) over the live "
                "workers: a thread each with --threads, else a worker each.")
        for state, count in view.threads.items():
            out.append("appserver_threads%s %d\n" % (_labels(state=state), count))
    _family(out, "appserver_workers_wanted", "gauge", "Workers the arbiter keeps.")
    out.append("appserver_workers_wanted %d\n" % view.wanted)
    _family(out, "appserver_worker_memory_bytes", "gauge",
            "Resident memory (RSS) of each live worker.")
    for number, rss in view.rss:
        out.append("appserver_worker_memory_bytes%s %d\n" % (_labels(worker=number), rss))
    _family(out, "appserver_listen_backlog", "gauge",
            "Connections waiting in the kernel's accept queue of each listener.")
    _family_values(out, "appserver_listen_backlog", view.backlog, 0)
    _family(out, "appserver_listen_backlog_max", "gauge",
            "Size of the accept queue of each listener.")
    _family_values(out, "appserver_listen_backlog_max", view.backlog, 1)
    _family(out, "appserver_worker_starts_total", "counter", "Workers forked.")
    out.append("appserver_worker_starts_total %d\n" % view.starts)
    _family(out, "appserver_worker_exits_total", "counter", "Workers exited, by cause.")
    for cause in EXIT_CAUSES:
        out.append("appserver_worker_exits_total%s %d\n" % (
            _labels(cause=cause), view.exits.get(cause, 0)))
    _family(out, "appserver_worker_boot_seconds", "histogram",
            "Time from fork to a worker ready to serve (app loaded).")
    _histogram(out, "appserver_worker_boot_seconds", BOOT_BUCKETS, view.boot_counts,
               view.boot_sum)
    return "".join(out)


def _family_values(out, name, backlog, index):
    for url, values in backlog.items():
        out.append("%s%s %d\n" % (name, _labels(listener=url), values[index]))
