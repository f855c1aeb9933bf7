"""A bounded load generator for the functional tests.

Contract: ``Load(server_or_address, ...)`` runs ``threads`` client threads that send
``GET path`` with ``http.client`` in a loop to 127.0.0.1 only, until
``stop()``, ``duration`` seconds or ``max_requests`` requests in all,
whichever comes first. Each request uses a new connection, or with
``keepalive=True`` each thread keeps one connection open and reuses it
(opening a new one when the server said ``Connection: close`` or closed it
while idle, as an HTTP client pool does before reusing a connection). A
request *fails* on any exception or any status other than 200; failures
are counted with a sample of their causes, and each failed request's start
(``time.monotonic()`` when it began) is kept: ``failed_since(t)`` counts the
failures of requests begun at ``t`` or later, whenever their failure was
noticed (a client thread may see a reset long after it happened). One case is not a failure: a
request sent on a *reused* keep-alive connection that the server closed
before any byte of a response arrived is retried once on a new connection,
as RFC 9112 section 9.3.1 allows for an idempotent request and as client
pools do; those retries are counted in ``retried`` (the retried request
counts as failed if it fails too). Bodies of the form
``"<pid> <ppid>"`` (the ``sv_app`` app) are counted per (pid, ppid);
``connects`` counts the connections opened.

``Mixed(target)`` runs both kinds at once: ``keep`` keep-alive clients, each
on one connection reused for every request, and ``close`` clients opening a
connection per request; ``check()`` asserts that no request failed, none was
retried, and each keep-alive client opened one connection only.
"""

import collections
import http.client
import select
import threading
import time

from tests.harness.process import wait_until


# A reused keep-alive connection that the server closed as the request went
# out: nothing of a response arrived.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Load:
    """A bounded stream of requests; see the module comment."""

    def __init__(self, target, threads=4, keepalive=False, duration=30.0,
                 max_requests=50000, path="/", interval=0.005, timeout=10.0):
        if hasattr(target, "address"):
            target = target.address
        host, port = target
        assert host == "127.0.0.1", host
        self.host, self.port = host, port
        self.threads = threads
        self.keepalive = keepalive
        self.duration = duration
        self.max_requests = max_requests
        self.path = path
        self.interval = interval
        self.timeout = timeout
        self.ok = 0
        self.failed = 0
        self.retried = 0                        # keep-alive close races retried
        self.connects = 0                       # connections opened
        self.retry_causes = collections.Counter()
        self.errors = collections.Counter()     # cause -> count
        self.failed_began = []                  # monotonic start of each failure
        self.served_by = collections.Counter()  # (pid, ppid) -> count
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = []
        self.started_at = None
        self.elapsed = None

    # -- control ------------------------------------------------------------

    def start(self):
        self.started_at = time.monotonic()
        self._deadline = self.started_at + self.duration
        for i in range(self.threads):
            t = threading.Thread(target=self._run, name="load-%d" % i, daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._workers:
            t.join(self.timeout + 5)
        alive = [t.name for t in self._workers if t.is_alive()]
        assert not alive, "load threads did not stop: %s" % alive
        self.elapsed = time.monotonic() - self.started_at
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def total(self):
        return self.ok + self.failed

    def wait_for_ok(self, more, timeout=10.0):
        """Wait until ``more`` requests beyond the current count succeeded."""
        target = self.ok + more
        wait_until(lambda: self.ok >= target, timeout,
                   lambda: "load: %s" % self.summary())

    def failed_since(self, when):
        """How many failed requests began at ``when`` (monotonic) or later."""
        with self._lock:
            return sum(1 for began in self.failed_began if began >= when)

    def summary(self):
        causes = "; ".join("%s x%d" % item for item in self.errors.most_common(5))
        text = "%d ok, %d failed%s" % (self.ok, self.failed,
                                       (" (" + causes + ")") if causes else "")
        if self.retried:
            text += ", %d keep-alive retries (%s)" % (self.retried, ", ".join(
                "%s x%d" % item for item in self.retry_causes.most_common()))
        return text

    # -- client threads -------------------------------------------------------

    def _more(self):
        if self._stop.is_set() or time.monotonic() >= self._deadline:
            return False
        with self._lock:
            return self.total < self.max_requests

    def _run(self):
        conn = None
        while self._more():
            if conn is not None and (not self.keepalive or _closed_by_peer(conn)):
                conn.close()
                conn = None
            reused = conn is not None
            began = time.monotonic()
            if conn is None:
                conn = self._connect()
            try:
                try:
                    resp = self._send(conn)
                except _STALE as exc:
                    if not reused:
                        raise
                    # The server closed the reused connection as the request
                    # went out, before any byte of response: retry once on a
                    # new connection (RFC 9112 section 9.3.1, idempotent GET).
                    conn.close()
                    with self._lock:
                        self.retried += 1
                        self.retry_causes[type(exc).__name__] += 1
                    conn = self._connect()
                    resp = self._send(conn)
                body = resp.read()
                status = resp.status
                if resp.will_close or not self.keepalive:
                    conn.close()
                    conn = None
            except Exception as exc:
                conn.close()
                conn = None
                self._count(None, "%s: %s" % (type(exc).__name__, exc), began)
            else:
                self._count(body, None if status == 200 else "status %d" % status,
                            began)
            if self.interval:
                self._stop.wait(self.interval)
        if conn is not None:
            conn.close()

    def _connect(self):
        with self._lock:
            self.connects += 1
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _send(self, conn):
        conn.request("GET", self.path)
        return conn.getresponse()

    def _count(self, body, error, began):
        with self._lock:
            if error is None:
                self.ok += 1
                parts = body.split()
                if len(parts) == 2 and all(p.isdigit() for p in parts):
                    self.served_by[(int(parts[0]), int(parts[1]))] += 1
            else:
                self.failed += 1
                self.failed_began.append(began)
                self.errors[error[:120]] += 1


def _closed_by_peer(conn):
    """True if an idle keep-alive connection was closed by the server (it
    is readable while no request is outstanding: EOF or stray bytes)."""
    sock = conn.sock
    if sock is None:
        return False
    return bool(select.select([sock], [], [], 0)[0])


class Mixed:
    """The keep-alive load and the close load together."""

    def __init__(self, target, duration=60.0, keep=20, close=4):
        self.keep = Load(target, threads=keep, keepalive=True, interval=0.04,
                         duration=duration, max_requests=40000)
        self.close = Load(target, threads=close, interval=0.02, duration=duration,
                          max_requests=10000)

    def __enter__(self):
        self.keep.start()
        self.close.start()
        return self

    def __exit__(self, *exc):
        self.keep.stop()
        self.close.stop()

    def wait_for_ok(self, more, timeout=20.0):
        self.keep.wait_for_ok(more, timeout)
        self.close.wait_for_ok(max(1, more // 10), timeout)

    def check(self):
        for load in (self.keep, self.close):
            assert load.failed == 0, load.summary()
            assert load.retried == 0, load.summary()
        assert self.keep.connects == self.keep.threads, \
            "keep-alive connections opened: %d for %d clients; %s" % (
                self.keep.connects, self.keep.threads, self.keep.summary())

    @property
    def served_by(self):
        return self.keep.served_by + self.close.served_by
