"""Start and stop the servers under test, and time their first 200.

Contract: ``Server(kind, app, cwd, workers, env, log_path, cpu)`` describes
one server run: ``kind`` is one of ``KINDS``: ``"appserver"``, ``"gunicorn"``
(sync worker) or a peer from ``PEERS`` (``"granian"``, ``"uwsgi"`` from the
``pyuwsgi`` wheel, ``"bjoern"`` from ``bjoern-binary``, pre-forked by
``benchmarks.bjoern_serve``, ``"gthread"``: Gunicorn's ``gthread`` worker)
or ``"nginx"`` (static scenarios only); ``app`` a WSGI spec importable from
``cwd``; ``static_dir`` (a static scenario's directory) adds ``--static`` to
appserver and is what nginx serves. ``threads`` is the scenario's threads
per worker: appserver gets ``--threads N`` when it is above 1, Gunicorn
gthread gets it as is, or ``GTHREAD_THREADS`` when it is 1 (gthread is run
as its users run it); the sync servers and the other peers ignore it.
``uwsgi_mode`` picks uWSGI's HTTP front for the scenario (``UWSGI_MODES``):
``"keep-alive"`` (``--http11-socket``, which keeps a connection open after a
response with a length), ``"chunked"`` (the same with uWSGI's ``chunked``
transformation, for a body without a length, which ``--http11-socket``
would otherwise end by closing) or ``"close"`` (``--http-socket``, which
closes after every response, announcing it with ``Connection: close``; for
clients that ask to close, which ``--http11-socket`` ignores); the other
servers ignore it. ``missing_peers(wanted)`` returns ``{peer: install hint}`` for the wanted
peers that are not importable. ``start(timeout)`` binds a free
127.0.0.1 port, launches the server (pinned with ``taskset -c CPU`` when
``cpu`` is given), and polls with a raw socket until a ``GET /`` gets a 200;
it sets ``startup_s`` (launch to first 200) and raises ``StartError`` with
the log's tail when the server exits or times out. ``stop()`` sends TERM to
the arbiter's pid, then KILL after a grace period, then KILL to any worker
pid seen while it ran that is still alive; it is safe to call twice and is
always called by the context manager, on error and on Ctrl-C too.
"""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time

from benchmarks import procstat, static

HOST = "127.0.0.1"
POLL_S = 0.01


class StartError(RuntimeError):
    """The server did not answer 200 in time (message holds the log tail)."""


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


PEERS = ("granian", "uwsgi", "bjoern", "gthread")
GTHREAD_THREADS = 4     # gthread's threads in a scenario of one thread per worker
KINDS = ("appserver", "gunicorn") + PEERS
# peer: (module that must import, pip distribution)
PEER_PACKAGES = {"granian": ("granian", "granian"), "uwsgi": ("pyuwsgi", "pyuwsgi"),
                 "bjoern": ("bjoern", "bjoern-binary"), "gthread": ("gunicorn", "gunicorn")}
# A word of each server's command line, to tell its leftover workers apart.
MARKS = {"appserver": "appserver", "gunicorn": "gunicorn", "granian": "granian",
         "uwsgi": "pyuwsgi", "bjoern": "bjoern_serve", "nginx": "nginx",
         "gthread": "gunicorn"}
UWSGI_MAIN = "import sys, pyuwsgi; sys.argv[0] = 'uwsgi'; pyuwsgi.run()"
# uWSGI's HTTP front per scenario; BIND stands for the address (see the contract).
BIND = "{bind}"
UWSGI_MODES = {
    "keep-alive": ("--http11-socket", BIND),
    "chunked": ("--http11-socket", BIND, "--route-run", "chunked:"),
    "close": ("--http-socket", BIND, "--add-header", "Connection: close"),
}


def missing_peers(wanted):
    """{peer: install hint} for each wanted peer whose module does not import."""
    return {peer: "pip install %s" % PEER_PACKAGES[peer][1] for peer in wanted
            if importlib.util.find_spec(PEER_PACKAGES[peer][0]) is None}


def server_argv(kind, app, port, workers, cwd=".", static_dir=None, confdir=None,
                threads=1, uwsgi_mode="keep-alive"):
    """The command line that serves ``app`` (importable from ``cwd``) with
    ``kind``; with ``static_dir``, appserver serves it under /static/ and
    nginx serves only it (its config is written into ``confdir``)."""
    bind = "%s:%d" % (HOST, port)
    if kind == "appserver":
        extra = static.appserver_args(static_dir) if static_dir else []
        extra += ["--threads", str(threads)] if threads > 1 else []
        return [sys.executable, "-m", "appserver", "--bind", bind,
                "--workers", str(workers)] + extra + [app]
    if kind == "nginx":
        return static.nginx_argv(port, workers, static_dir, confdir)
    if kind == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "--bind", bind,
                "--workers", str(workers), "--worker-class", "sync", app]
    if kind == "gthread":
        return [sys.executable, "-m", "gunicorn", "--bind", bind,
                "--workers", str(workers), "--worker-class", "gthread",
                "--threads", str(threads if threads > 1 else GTHREAD_THREADS), app]
    if kind == "granian":
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", HOST,
                "--port", str(port), "--workers", str(workers), "--working-dir", str(cwd),
                "--log-level", "warning", app]
    if kind == "uwsgi":
        front = [bind if arg == BIND else arg for arg in UWSGI_MODES[uwsgi_mode]]
        return [sys.executable, "-c", UWSGI_MAIN, "--master", "--die-on-term"] + front + [
            "--processes", str(workers), "--pythonpath", str(cwd),
            "--module", app, "--need-app", "--disable-logging"]
    if kind == "bjoern":
        return [sys.executable, "-m", "benchmarks.bjoern_serve", "--bind", bind,
                "--workers", str(workers), app]
    raise ValueError("unknown server kind %r" % kind)


def pinned(argv, cpu):
    """``argv`` run through ``taskset -c cpu`` (or as is when cpu is None)."""
    return argv if cpu is None else ["taskset", "-c", str(cpu)] + list(argv)


def get_status(port, path="/", timeout=0.5):
    """Status code of one raw ``GET path`` to 127.0.0.1:port, or None."""
    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
               % (path, HOST, port)).encode("ascii")
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(request)
            head = s.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])


def log_tail(path, lines=15):
    """The last ``lines`` lines of a log file ('' when absent)."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except FileNotFoundError:
        return ""


class Server:
    """One run of one server; use as a context manager."""

    def __init__(self, kind, app, cwd, workers, env, log_path, cpu=None, static_dir=None,
                 threads=1, uwsgi_mode="keep-alive"):
        self.kind, self.app, self.cwd, self.workers = kind, app, cwd, workers
        self.static_dir, self.threads, self.uwsgi_mode = static_dir, threads, uwsgi_mode
        self.env, self.log_path, self.cpu = env, log_path, cpu
        self.port = free_port()
        self.proc = None
        self.startup_s = None
        self.seen_children = set()

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path="/"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def start(self, timeout=60.0):
        """Launch and wait for the first 200; raises StartError."""
        argv = pinned(server_argv(self.kind, self.app, self.port, self.workers, self.cwd,
                                  self.static_dir, self.log_path.parent, self.threads,
                                  self.uwsgi_mode),
                      self.cpu)
        log = open(self.log_path, "ab")
        began = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                argv, cwd=self.cwd, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            log.close()
        self._wait_first_200(began, timeout)

    def _wait_first_200(self, began, timeout):
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError("%s exited with code %s:\n%s" % (
                    self.kind, self.proc.returncode, log_tail(self.log_path)))
            if get_status(self.port) == 200:
                self.startup_s = time.monotonic() - began
                self.remember_children()
                return
            time.sleep(POLL_S)
        raise StartError("%s gave no 200 within %.0f s:\n%s" % (
            self.kind, timeout, log_tail(self.log_path)))

    def remember_children(self):
        """Record the current worker pids (so stop() can reap leftovers)."""
        if self.proc and self.proc.poll() is None:
            self.seen_children.update(procstat.descendants(self.pid)[1:])

    def stop(self, grace=10.0):
        """TERM the arbiter, KILL it after ``grace`` s, KILL leftover workers."""
        if self.proc is None:
            return
        self.remember_children()
        if self.proc.poll() is None:
            _signal(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        for pid in sorted(self.seen_children):
            if _alive_and_ours(pid, MARKS[self.kind]):
                _signal(pid, signal.SIGKILL)
        self.seen_children.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _alive_and_ours(pid, mark):
    """True when ``pid`` still runs (not a zombie) and its command holds ``mark``."""
    stat = procstat._read("/proc/%d/stat" % pid)
    cmdline = procstat._read("/proc/%d/cmdline" % pid) or ""
    return bool(stat) and stat[stat.rindex(")") + 2] != "Z" and mark in cmdline
