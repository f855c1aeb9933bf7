"""Helpers of the supervision tests: a bounded load generator and /proc probes.

``Load(server_or_address, ...)`` runs ``threads`` client threads that send
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
``"<pid> <ppid>"`` (the ``sv_app`` app) are counted per (pid, ppid).

``children_of(pid)`` lists the live (not zombie) children of a process from
``/proc``; ``ServingSampler`` polls how many workers are serving and keeps
the lowest count seen; ``wait_until`` polls a predicate; ``Subreaper``
adopts orphaned descendants (the new arbiter of a USR2 upgrade).
"""

import collections
import http.client
import os
import select
import threading
import time
from pathlib import Path


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


# --------------------------------------------------------------------------
# /proc


def _state(pid):
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid):
    """The process exists and is not a zombie."""
    return _state(pid) not in (None, "Z")


def children_of(pid):
    """Live child pids of ``pid``, sorted."""
    pids = set()
    try:
        tasks = list(Path("/proc/%d/task" % pid).iterdir())
    except FileNotFoundError:
        return []
    for task in tasks:
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return sorted(p for p in pids if alive(p))


def parent_of(pid):
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def wait_until(predicate, timeout, describe=lambda: "", period=0.01):
    """Poll ``predicate`` until true; AssertionError with ``describe()`` if not."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.1f s. %s"
                                 % (timeout, describe()))
        time.sleep(period)


def log_pids(pattern, text):
    """Integers captured by the first group of ``pattern`` in ``text``."""
    import re
    return [int(m.group(1)) for m in re.finditer(pattern, text)]


def kill_quietly(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_for_text(server, pattern, after=0, timeout=10.0):
    """Like ``Server.wait_for_log`` but keeps waiting when the arbiter the
    harness started has exited (after a USR2 upgrade another one logs)."""
    import re
    regex = re.compile(pattern)
    return wait_until(lambda: regex.search(server.log()[after:]), timeout,
                      lambda: "%r not in the log:\n%s" % (pattern, server.log()))


class Subreaper:
    """Make this process the subreaper of its descendants (Linux
    ``PR_SET_CHILD_SUBREAPER``) while the block runs, so that a process
    orphaned by its parent (a new arbiter after the old one exits) becomes
    our child: we can wait for it and read its exit code. On exit, every
    adopted child still running is killed and reaped."""

    def __init__(self):
        import ctypes
        self._prctl = ctypes.CDLL(None, use_errno=True).prctl
        self.adopted = set()

    def __enter__(self):
        if self._prctl(36, 1, 0, 0, 0) != 0:    # PR_SET_CHILD_SUBREAPER
            raise OSError("prctl(PR_SET_CHILD_SUBREAPER) failed")
        return self

    def wait(self, pid, timeout):
        """Exit code of our (adopted) child ``pid``; None if still running."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def __exit__(self, *exc):
        import signal
        try:
            for pid in self.adopted:
                if alive(pid):
                    for child in children_of(pid):
                        kill_quietly(child, signal.SIGKILL)
                    kill_quietly(pid, signal.SIGKILL)
                    self.wait(pid, 5)
        finally:
            self._prctl(36, 0, 0, 0, 0)


class ServingSampler:
    """Polls, every ``period`` seconds, the arbiter's live children and how
    many of them are *serving*: booted (the ``sv_app`` import recorded
    ``booted <pid>`` in ``sv_boot.log``) and not yet told to stop (no
    ``Stopping worker <pid>`` line in the log). Keeps the lowest of each
    (``lowest_children``, ``lowest_serving``) and what was seen then."""

    def __init__(self, server, period=0.005):
        import re
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
        children = children_of(self.server.pid)
        serving = [pid for pid in children if pid in booted and pid not in stopping]
        return children, serving

    def _run(self):
        while not self._stop.is_set():
            children, serving = self.sample()
            self.samples += 1
            if self.lowest_children is None or len(children) < self.lowest_children:
                self.lowest_children = len(children)
            if self.lowest_serving is None or len(serving) < self.lowest_serving:
                self.lowest_serving = len(serving)
                self.at_lowest = (children, serving)
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
