"""Helpers for the deployment tests: real processes, stopped by pid.

Contract:

* ``Proc(argv, env=..., tmpdir=...)`` runs a command in its own session with
  stdout and stderr going to one log file (never a pipe). ``wait_for_log``
  polls that log for a regex with a bounded timeout and fails with the whole
  log. ``stop()`` sends SIGTERM to the process, waits (bounded), then
  SIGKILLs it and every descendant ever seen (``remember_tree``), each by
  pid and only if it is still the same process (start time unchanged).
  ``track(pid)`` adds a process that is no descendant (an arbiter started by
  USR2 that outlived its parent). ``stop`` is idempotent; ``Proc`` is meant
  to be stopped in a pytest finaliser.
* ``NotifyListener(address)`` binds an ``AF_UNIX`` datagram socket at a path
  or at an abstract ``@name`` with ``SO_PASSCRED``, so each ``sd_notify``
  message comes with the sender's pid. ``wait_for(key)`` returns the first
  message holding ``key`` (bounded); every message received is kept in
  ``messages``, in order.
* ``http_get(address, path)`` sends one GET to ``(host, port)`` or a unix
  socket path and returns ``(status, body)``; ``free_port()`` a loopback port
  that was free a moment ago.
* ``app_env(**extra)`` is the environment for ``python -m appserver`` with the
  repository and the test apps on ``PYTHONPATH``.
"""

import http.client
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
APPS_DIR = Path(__file__).resolve().parent / "apps"
APPSERVER = [sys.executable, "-m", "appserver"]
READY_RE = re.compile(r"Ready: (\d+) workers? booted")
LISTENING_RE = re.compile(r"Listening at: (\S+) \((\d+)\)")
POLL = 0.02


def app_env(**extra):
    env = dict(os.environ)
    for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                "LISTEN_PID", "LISTEN_FDNAMES", "PORT", "WEB_CONCURRENCY"):
        env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(APPS_DIR)])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def http_get(address, path="/", timeout=10.0):
    if isinstance(address, tuple):
        conn = http.client.HTTPConnection(*address, timeout=timeout)
    else:
        conn = _UnixHTTPConnection(address, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short_tmpdir():
    """A private directory with a short path (unix socket paths are short)."""
    return Path(tempfile.mkdtemp(prefix="asd-"))


class Proc:
    """One process tree under test; see the module comment."""

    def __init__(self, argv, env=None, tmpdir=None, cwd=REPO_ROOT):
        self.argv = [str(a) for a in argv]
        self.env = env if env is not None else app_env()
        self.tmpdir = Path(tmpdir) if tmpdir else short_tmpdir()
        self.log_path = self.tmpdir / "output.log"
        self.cwd = cwd
        self.popen = None
        self.seen = {}          # pid -> start time
        self.mains = []         # other arbiters to stop with SIGTERM first

    def start(self):
        with open(self.log_path, "wb") as out:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, cwd=str(self.cwd), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.track(self.popen.pid)
        return self

    @property
    def pid(self):
        return self.popen.pid

    def log(self):
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

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

    def wait_exit(self, timeout=15.0):
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

    def stop(self, timeout=15.0):
        if self.popen is None:
            return None
        self.remember_tree()
        mains = [pid for pid in self.mains if self.alive(pid)]
        running = [self.popen.pid] if self.popen.poll() is None else []
        for pid in running + mains:
            _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (
                self.popen.poll() is None or any(self.alive(p) for p in mains)):
            self.remember_tree()
            time.sleep(POLL)
        self.remember_tree()
        for pid, start in sorted(self.seen.items()):
            if is_same_live(pid, start):
                _kill(pid, signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.wait(5)
        return self.popen.returncode


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# -- /proc -------------------------------------------------------------------

def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None."""
    try:
        text = Path("/proc/%d/stat" % pid).read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def state(pid):
    fields = stat_fields(pid)
    return fields[0] if fields else None


def start_time(pid):
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None


def is_same_live(pid, start):
    return state(pid) not in (None, "Z") and start_time(pid) == start


def children(pid):
    found = []
    try:
        tasks = list(Path("/proc/%d/task" % pid).iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def wait_until(predicate, timeout, what):
    """Poll ``predicate`` until it returns a true value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(POLL)


# -- sd_notify ---------------------------------------------------------------

_UCRED = struct.Struct("3i")


class Message:
    """One ``sd_notify`` datagram: the sender's pid and its ``KEY=VALUE`` lines."""

    def __init__(self, pid, text, at):
        self.pid, self.text, self.at = pid, text, at
        self.fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def __repr__(self):
        return "<from %s: %r>" % (self.pid, self.text)


class NotifyListener:
    """A ``NOTIFY_SOCKET``; see the module comment."""

    def __init__(self, address):
        self.address = str(address)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        raw = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        self.sock.bind(raw)
        self.messages = []

    def receive(self, timeout):
        """The next message, or None after ``timeout`` seconds."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = _UCRED.unpack(payload[:_UCRED.size])[0]
        message = Message(pid, data.decode(), time.monotonic())
        self.messages.append(message)
        return message

    def wait_for(self, key, timeout=15.0, value=None):
        """The next message with ``key`` (and ``value`` if given)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(deadline - time.monotonic())
            if message is None:
                raise AssertionError("no %s=%s within %ss; got %r"
                                     % (key, value or "*", timeout, self.messages))
            if key in message.fields and value in (None, message.fields[key]):
                return message

    def drain(self, seconds):
        """Receive for ``seconds``; return the messages that arrived."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            message = self.receive(deadline - time.monotonic())
            if message is None:
                return got
            got.append(message)

    def close(self):
        self.sock.close()
        if not self.address.startswith("@"):
            try:
                os.unlink(self.address)
            except FileNotFoundError:
                pass
