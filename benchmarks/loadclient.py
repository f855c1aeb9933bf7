"""A small bounded HTTP/1.1 load client for figures wrk cannot separate.

Contract: ``python -m benchmarks.loadclient --port P --connections C
--duration S [--slow-every N]`` keeps C connections to 127.0.0.1:P busy with
``GET`` requests for S seconds (one request in flight per connection, a
connection slot reconnects when the server closes). With ``--slow-every N``
every Nth request issued goes to ``/slow``, the rest to ``/``. It stops
issuing at the deadline, waits at most ``--drain`` s for answers in flight,
stops after ``--max-requests`` in any case, and prints one JSON object:
``requests``, ``seconds``, ``rps``, latency percentiles (ms) per path
(``fast``: ``/``, ``slow``: ``/slow``), ``per_connection`` (requests
completed by each slot), ``statuses`` and ``errors``. Only 127.0.0.1 is ever
contacted. Responses must carry Content-Length (the benchmark apps do).
"""
import argparse
import json
import selectors
import socket
import sys
import time

HOST = "127.0.0.1"


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(round(pct / 100.0 * len(sorted_values) + 0.4999)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def parse_head(head):
    """(status, content_length or None, close) from a response head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = None, lines[0].startswith(b"HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection":
            close = b"close" in value.lower()
    return status, length, close


class Slot:
    """One client connection slot: a socket, its request and its buffer."""

    def __init__(self, index):
        self.index, self.sock, self.buf = index, None, b""
        self.path, self.started, self.done = None, 0.0, 0


class Client:
    """Drives all slots from one selector loop."""

    def __init__(self, port, connections, slow_every, max_requests):
        self.port, self.slow_every, self.max_requests = port, slow_every, max_requests
        self.sel = selectors.DefaultSelector()
        self.slots = [Slot(i) for i in range(connections)]
        self.issued = 0
        self.latency = {"fast": [], "slow": []}
        self.statuses, self.errors = {}, {}

    def _count(self, table, key):
        table[key] = table.get(key, 0) + 1

    def _connect(self, slot):
        slot.sock = socket.create_connection((HOST, self.port), timeout=5)
        slot.sock.setblocking(False)
        slot.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sel.register(slot.sock, selectors.EVENT_READ, slot)

    def _close(self, slot):
        if slot.sock is not None:
            self.sel.unregister(slot.sock)
            slot.sock.close()
            slot.sock = None

    def _send(self, slot):
        self.issued += 1
        slow = self.slow_every and self.issued % self.slow_every == 0
        slot.path, slot.buf = ("/slow" if slow else "/"), b""
        slot.started = time.perf_counter()
        if slot.sock is None:
            self._connect(slot)
        req = "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (slot.path, HOST, self.port)
        slot.sock.sendall(req.encode("ascii"))

    def _finish(self, slot, status, close, now):
        kind = "slow" if slot.path == "/slow" else "fast"
        self.latency[kind].append((now - slot.started) * 1000.0)
        self._count(self.statuses, str(status))
        slot.done += 1
        slot.path = None
        if close:
            self._close(slot)

    def _on_readable(self, slot, now):
        data = slot.sock.recv(262144)
        if not data:
            self._count(self.errors, "closed")
            self._close(slot)
            slot.path = None
            return
        slot.buf += data
        end = slot.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        status, length, close = parse_head(slot.buf[:end])
        if length is None:
            self._count(self.errors, "no content-length")
            self._close(slot)
            slot.path = None
        elif len(slot.buf) - end - 4 >= length:
            self._finish(slot, status, close, now)

    def _kick(self, issuing):
        for slot in self.slots:
            if slot.path is None and issuing and self.issued < self.max_requests:
                try:
                    self._send(slot)
                except OSError as exc:
                    self._count(self.errors, type(exc).__name__)
                    self._close(slot)
                    slot.path = None

    def run(self, duration, drain):
        began = time.perf_counter()
        stop_issuing, hard_stop = began + duration, began + duration + drain
        while True:
            now = time.perf_counter()
            issuing = now < stop_issuing
            self._kick(issuing)
            if now >= hard_stop or (not issuing and all(s.path is None for s in self.slots)):
                break
            for key, _ in self.sel.select(timeout=0.05):
                try:
                    self._on_readable(key.data, time.perf_counter())
                except OSError as exc:
                    self._count(self.errors, type(exc).__name__)
                    self._close(key.data)
                    key.data.path = None
        elapsed = time.perf_counter() - began
        in_flight = sum(1 for s in self.slots if s.path is not None)
        for slot in self.slots:
            self._close(slot)
        return self.report(elapsed, in_flight)

    def report(self, elapsed, in_flight):
        done = sum(s.done for s in self.slots)
        out = {"requests": done, "seconds": elapsed, "rps": done / elapsed,
               "per_connection": [s.done for s in self.slots],
               "statuses": self.statuses, "errors": self.errors,
               "unanswered": in_flight}
        for kind, values in self.latency.items():
            values.sort()
            out[kind] = {"count": len(values), "p50_ms": percentile(values, 50),
                         "p99_ms": percentile(values, 99)}
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--slow-every", type=int, default=0)
    ap.add_argument("--drain", type=float, default=10.0)
    ap.add_argument("--max-requests", type=int, default=5_000_000)
    args = ap.parse_args(argv)
    client = Client(args.port, args.connections, args.slow_every, args.max_requests)
    json.dump(client.run(args.duration, args.drain), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
