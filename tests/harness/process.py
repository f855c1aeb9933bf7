"""Real processes for the tests: started in their own session, logs to
files, stopped by pid; and the one bounded poll every test waits with.

Contract:

* ``wait_until(predicate, timeout, what)`` polls ``predicate`` every
  ``period`` seconds and returns its first true value; after ``timeout``
  seconds it raises ``AssertionError`` naming ``what`` (a string, or a
  callable that returns one: the log, read when it fails).
* ``Proc(argv, env=..., tmpdir=...)`` runs a command in its own session,
  stdin from /dev/null, stderr (and stdout, unless ``stdout_name`` gives it
  a file of its own) to the log file in ``tmpdir``: never a pipe that could
  fill up. ``wait_for_log`` polls that log for a regex (bounded, failing
  with the whole log); ``poll``, ``wait`` and ``returncode`` are the
  ``Popen``'s. ``stop(sig)`` sends ``sig`` (TERM) to the process and to the
  other arbiters ``track_main`` named, waits (bounded), then SIGKILLs every
  process of the tree ever seen (``remember_tree``), each by pid and only if
  it is still the same process (start time unchanged). ``stop`` is
  idempotent and returns the exit code; ``cleanup()`` also removes
  ``tmpdir``. ``log()`` is the log file, then each of ``extra_logs`` (files
  in ``tmpdir`` the program writes itself, such as nginx's error log). With ``die_with_parent`` the
  process gets SIGTERM if the test process dies (start it from the main
  thread then).
* ``app_env(pythonpath, **extra)`` is the environment for ``python -m
  appserver``: the repository root and ``tests/apps`` (or ``pythonpath``)
  first on ``PYTHONPATH``, unbuffered output, and none of the variables a
  service manager or a platform sets (``NOTIFY_SOCKET``, ``LISTEN_FDS``,
  ``PORT``, ...) unless ``extra`` sets them.
* ``free_port()`` is a loopback port that was free a moment ago;
  ``short_tmpdir()`` a private directory with a short path (unix socket
  paths are short); ``wait_listening(proc, ports)`` returns once each
  127.0.0.1 port (or ``(host, port)``) accepts a connection, failing at once
  with the log if the process exited.
* ``Subreaper()``, as a context manager, makes this process the subreaper of
  its descendants, so that an arbiter orphaned by its parent (a USR2
  upgrade) becomes our child: ``wait(pid)`` reads its exit code; on exit
  every adopted process in ``adopted`` still running is killed and reaped.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.procfs import alive, children, descendants, is_same_live, start_time

REPO_ROOT = Path(__file__).resolve().parents[2]
APPS_DIR = REPO_ROOT / "tests" / "apps"
APPSERVER = [sys.executable, "-m", "appserver"]
LISTENING_RE = re.compile(r"Listening at: (?P<url>\S+) \((?P<pid>\d+)\)")
READY_RE = re.compile(r"Ready: (?P<n>\d+) workers? booted")
BOOTING_RE = re.compile(r"Booting worker with pid: (?P<pid>\d+)")
POLL = 0.02
STOP_TIMEOUT = 15.0
# Set by a service manager or a platform: a test sets them itself.
_HOST_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
              "LISTEN_FDNAMES", "PORT", "WEB_CONCURRENCY")


def wait_until(predicate, timeout=10.0, what="a condition", period=POLL):
    """The first true value of ``predicate()``; see the module comment."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what() if callable(what) else what))
        time.sleep(period)


def app_env(pythonpath=(APPS_DIR,), **extra):
    env = dict(os.environ)
    for var in _HOST_VARS:
        env.pop(var, None)
    paths = [str(REPO_ROOT)] + [str(p) for p in pythonpath]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short_tmpdir(prefix="as-"):
    return Path(tempfile.mkdtemp(prefix=prefix))


def _read(path):
    try:
        return Path(path).read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def kill_quietly(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _die_with_parent():
    """In the child before exec: SIGTERM when the thread that started it
    ends (Linux ``PR_SET_PDEATHSIG``), so a killed pytest leaves nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Proc:
    """One process tree under test; see the module comment."""

    def __init__(self, argv, env=None, tmpdir=None, cwd=REPO_ROOT, log_name="output.log",
                 stdout_name=None, die_with_parent=False, extra_logs=()):
        self.argv = [str(a) for a in argv]
        self.env = env if env is not None else app_env()
        self.tmpdir = Path(tmpdir) if tmpdir else short_tmpdir()
        self.log_path = self.tmpdir / log_name
        self.stdout_path = self.tmpdir / stdout_name if stdout_name else None
        self.cwd = cwd
        self.die_with_parent = die_with_parent
        self.extra_logs = [self.tmpdir / name for name in extra_logs]
        self.popen = None
        self.seen = {}          # pid -> start time
        self.mains = []         # other arbiters to stop with SIGTERM first

    def start(self):
        with open(self.log_path, "wb") as log:
            out = open(self.stdout_path, "wb") if self.stdout_path else None
            try:
                self.popen = subprocess.Popen(
                    self.argv, env=self.env, cwd=str(self.cwd), stdin=subprocess.DEVNULL,
                    stdout=out or log, stderr=log, start_new_session=True,
                    preexec_fn=_die_with_parent if self.die_with_parent else None)
            finally:
                if out is not None:
                    out.close()
        self.track(self.popen.pid)
        return self

    @property
    def pid(self):
        return self.popen.pid

    def poll(self):
        return self.popen.poll()

    def wait(self, timeout=None):
        return self.popen.wait(timeout)

    @property
    def returncode(self):
        return self.popen.returncode

    def log(self):
        return "".join(_read(path) for path in [self.log_path] + self.extra_logs)

    def wait_for_log(self, pattern, timeout=15.0, after=0, count=1):
        """The ``count``-th match of ``pattern`` in the log after offset ``after``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            exited = self.popen.poll() is not None
            matches = list(regex.finditer(self.log()[after:]))
            if len(matches) >= count:
                return matches[count - 1]
            if exited or time.monotonic() > deadline:
                why = "exited (%s)" % self.popen.returncode if exited else "timed out"
                raise AssertionError("%s waiting for %r x%d\n--- log ---\n%s"
                                     % (why, regex.pattern, count, self.log()))
            self.remember_tree()
            time.sleep(POLL)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("did not exit within %ss\n--- log ---\n%s"
                                 % (timeout, self.log())) from None

    def track(self, pid):
        start = start_time(pid)
        if start is not None:
            self.seen.setdefault(pid, start)

    def remember_tree(self):
        """Track every descendant of the live processes tracked so far."""
        for pid, start in list(self.seen.items()):
            if is_same_live(pid, start):
                for child in descendants(pid):
                    self.track(child)

    def alive(self, pid):
        """``pid`` is a process this tree started and it has not exited."""
        return pid in self.seen and is_same_live(pid, self.seen[pid])

    def track_main(self, pid):
        """Stop ``pid`` (an arbiter that is no child of ours) like the first one."""
        self.track(pid)
        self.mains.append(pid)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.popen is None:
            return None
        self.remember_tree()
        mains = [pid for pid in self.mains if self.alive(pid)]
        running = [self.popen.pid] if self.popen.poll() is None else []
        for pid in running + mains:
            kill_quietly(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (
                self.popen.poll() is None or any(self.alive(p) for p in mains)):
            self.remember_tree()
            time.sleep(POLL)
        self.remember_tree()
        for pid, start in sorted(self.seen.items()):
            if is_same_live(pid, start):
                kill_quietly(pid, signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.wait(5)
        return self.popen.returncode

    def cleanup(self):
        """``stop()``, then remove ``tmpdir``."""
        try:
            return self.stop()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def wait_listening(proc, ports, timeout=15.0, what=None, log=None):
    """Wait until each port accepts a connection; see the module comment.
    ``log()`` (the process's log by default) is what a failure shows."""
    targets = [p if isinstance(p, tuple) else ("127.0.0.1", p) for p in ports]
    what = what or Path(proc.argv[0]).name
    log = log or proc.log

    def accepts(target):
        if proc.poll() is not None:
            raise AssertionError("%s exited (%s):\n%s" % (what, proc.returncode, log()))
        try:
            socket.create_connection(target, timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(lambda: all(accepts(t) for t in targets), timeout,
               lambda: "%s to listen on %s:\n%s" % (what, targets, log()))


class Subreaper:
    """See the module comment."""

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
            time.sleep(POLL)

    def __exit__(self, *exc):
        try:
            for pid in self.adopted:
                if alive(pid):
                    for child in children(pid):
                        kill_quietly(child, signal.SIGKILL)
                    kill_quietly(pid, signal.SIGKILL)
                    self.wait(pid, 5)
        finally:
            self._prctl(36, 0, 0, 0, 0)
