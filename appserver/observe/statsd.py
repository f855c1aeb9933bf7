"""StatsD: the arbiter pushes the ``/metrics`` figures over UDP once a second.

``StatsD(address, prefix)`` resolves ``HOST:PORT`` once (``ConfigError`` if it
cannot) and keeps one UDP socket. ``push(view)`` sends, for a
``monitor.View``: counters as deltas since the previous push (``|c``, only
those that moved), gauges as values (``|g``), packed into datagrams of at most
``MAX_DATAGRAM`` bytes. ``lines(view, previous)`` is the pure part. Sending
never blocks and never raises (a StatsD server that is down costs nothing).
"""

import logging
import socket

from appserver.observe import metrics
from appserver.errors import ConfigError

log = logging.getLogger("appserver")

MAX_DATAGRAM = 1400


def counters(view):
    """``{name: value}`` of the cumulative figures of a view."""
    stats = view.stats
    out = {}
    for m, method in enumerate(metrics.METHODS):
        for k, klass in enumerate(metrics.CLASSES):
            out["requests.%s.%s" % (method, klass)] = stats[metrics.REQUESTS + m * 5 + k]
    hist = stats[metrics.HISTOGRAM:metrics.BYTES_IN]
    out["request_duration.count"] = sum(hist)
    out["request_duration.sum_ms"] = int(stats[metrics.DURATION_SUM] * 1000)
    for bound, count in zip(metrics.BUCKETS + ("inf",), hist):
        out["request_duration.bucket.%s" % str(bound).replace(".", "_")] = count
    out["bytes_received"] = stats[metrics.BYTES_IN]
    out["bytes_sent"] = stats[metrics.BYTES_OUT]
    out["worker_starts"] = view.starts
    for cause in metrics.EXIT_CAUSES:
        out["worker_exits.%s" % cause.replace("-", "_")] = view.exits.get(cause, 0)
    return out


def gauges(view):
    out = {"workers.%s" % state: count for state, count in view.states.items()}
    out["workers.wanted"] = view.wanted
    for state, count in (view.threads or {}).items():
        out["threads.%s" % state] = count
    out["memory_rss_bytes"] = sum(rss for _, rss in view.rss)
    out["listen_backlog"] = sum(queued for queued, _ in view.backlog.values())
    return out


def lines(view, previous, prefix):
    """StatsD lines for ``view``; ``previous`` (updated) holds the last counters."""
    out = []
    for name, value in counters(view).items():
        delta = value - previous.get(name, 0)
        previous[name] = value
        if delta > 0:
            out.append("%s.%s:%d|c" % (prefix, name, delta))
    for name, value in gauges(view).items():
        out.append("%s.%s:%d|g" % (prefix, name, value))
    return out


def datagrams(all_lines, limit=MAX_DATAGRAM):
    """Join lines with newlines into payloads of at most ``limit`` bytes."""
    batch, size = [], 0
    for line in all_lines:
        data = line.encode("ascii")
        if batch and size + 1 + len(data) > limit:
            yield b"\n".join(batch)
            batch, size = [], 0
        size += len(data) + (1 if batch else 0)
        batch.append(data)
    if batch:
        yield b"\n".join(batch)


class StatsD:
    """A UDP sender of metric deltas and gauges."""

    def __init__(self, address, prefix):
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError("statsd-host: expected HOST:PORT, got %r" % address)
        try:
            family, kind, proto, _, target = socket.getaddrinfo(
                host.strip("[]") or "localhost", int(port), 0, socket.SOCK_DGRAM)[0]
        except (OSError, UnicodeError) as exc:
            raise ConfigError("statsd-host %s: %s" % (address, exc)) from None
        self.target = target
        self.prefix = prefix.rstrip(".")
        self.previous = {}
        self.sock = socket.socket(family, kind, proto)
        self.sock.setblocking(False)

    def push(self, view):
        for payload in datagrams(lines(view, self.previous, self.prefix)):
            try:
                self.sock.sendto(payload, self.target)
            except OSError as exc:
                log.debug("statsd: %s", exc)
