"""The ``appserver`` command under test, and the clients that talk to it.

Contract:

* ``Server(app, args=(...), ...)`` runs ``python -m appserver APP --bind
  BIND [--workers N] ARGS`` as a ``Proc`` (``tests.harness.process``): its
  own session, stdout and stderr to files in a private temporary directory,
  SIGTERM if the test process dies. ``PYTHONPATH`` holds the repository
  root and the given ``pythonpath`` directories (``tests/apps`` by default).
  The variable ``TESTAPP_RECORD_DIR`` names that temporary directory; test
  apps write their records (``close.log``, ``slow.log``) there.
* ``start()`` returns once the error log shows ``Listening at: ...`` and
  ``Ready: N workers booted``; it raises ``ServerError`` with the whole log if
  the process exits or the lines do not appear in time. ``port`` and
  ``address`` come from the ``Listening at`` line, so binding port 0 works.
  ``proc`` is the arbiter's ``Proc``.
* ``stop()`` sends SIGTERM (or ``sig``), waits (bounded), then SIGKILLs the
  arbiter and every process of its tree it has seen, by pid. It is
  idempotent and returns the arbiter's exit code (also kept in
  ``returncode``).
* Waiting: ``wait_for_log``, ``wait_for_records``, ``wait_for_workers``,
  ``wait_for_stdout_lines``, all
  bounded, failing with the log. Clients: ``request()`` (``http.client``,
  TCP or unix socket), ``connect()`` (a raw socket).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.clients import Response, UnixHTTPConnection
from tests.harness.process import (
    APPS_DIR, APPSERVER, BOOTING_RE, LISTENING_RE, READY_RE, REPO_ROOT, STOP_TIMEOUT, Proc,
    app_env, short_tmpdir, wait_until,
)
from tests.harness.procfs import children

START_TIMEOUT = 20.0


class ServerError(AssertionError):
    """The server did not do what the harness waited for; carries the log."""


@dataclass
class Server:
    """One ``appserver`` process tree, started and stopped by the harness."""

    app: str
    args: tuple = ()
    workers: int | None = 1
    unix: bool = False
    bind: str | None = None
    cwd: str | os.PathLike | None = None
    env: dict | None = None
    pythonpath: list | None = None
    start_timeout: float = START_TIMEOUT

    tmpdir: Path = field(init=False)
    tree: Proc | None = field(init=False, default=None)
    port: int | None = field(init=False, default=None)
    url: str | None = field(init=False, default=None)
    returncode: int | None = field(init=False, default=None)

    def __post_init__(self):
        self.tmpdir = short_tmpdir()
        self.stdout_path = self.tmpdir / "stdout.log"
        self.stderr_path = self.tmpdir / "stderr.log"
        if self.bind is None:
            self.bind = f"unix:{self.tmpdir / 's.sock'}" if self.unix else "127.0.0.1:0"

    # -- lifecycle ----------------------------------------------------------

    @property
    def command(self):
        cmd = APPSERVER + [self.app, "--bind", self.bind]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        return cmd + [str(a) for a in self.args]

    def _environ(self):
        paths = self.pythonpath if self.pythonpath is not None else [APPS_DIR]
        return app_env(paths, TESTAPP_RECORD_DIR=str(self.tmpdir), **(self.env or {}))

    def start(self, wait=True):
        """Start the process; with ``wait``, return once all workers are ready."""
        self.tree = Proc(self.command, env=self._environ(), tmpdir=self.tmpdir,
                         cwd=self.cwd or REPO_ROOT, log_name="stderr.log",
                         stdout_name="stdout.log", die_with_parent=True).start()
        if wait:
            self.wait_ready()
        return self

    @property
    def proc(self):
        """The arbiter's ``Proc`` (None before ``start``): ``poll``, ``wait``,
        ``returncode``, ``wait_for_log`` (in the error log)."""
        return self.tree

    def wait_ready(self, timeout=None):
        """Wait for ``Listening at`` and ``Ready: N workers booted``."""
        m = self.wait_for_log(LISTENING_RE, timeout or self.start_timeout)
        self._set_address(m.group("url"))
        self.wait_for_log(READY_RE, timeout or self.start_timeout)
        self.worker_pids()

    def _set_address(self, url):
        self.url = url
        if url.startswith("unix:"):
            self.address = url[len("unix:"):]
            self.port = None
            return
        m = re.match(r"https?://(\[[^\]]+\]|[^:/]+):(\d+)$", url)
        if not m:
            raise ServerError(f"cannot parse listening url {url!r}\n{self.log()}")
        host = m.group(1).strip("[]")
        self.port = int(m.group(2))
        self.address = (host, self.port)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stop the server (bounded), kill leftovers; return the exit code."""
        if self.tree is None:
            return None
        self.returncode = self.tree.stop(sig, timeout)
        return self.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait for the arbiter to exit by itself; return its exit code."""
        try:
            self.returncode = self.tree.wait_exit(timeout)
        except AssertionError:
            raise ServerError(f"arbiter did not exit within {timeout}s\n{self.log()}") from None
        return self.returncode

    def leftover_pids(self):
        """Processes of the tree seen earlier that are still alive (and still
        the same), the arbiter aside."""
        return sorted(p for p in self.tree.seen if p != self.pid and self.tree.alive(p))

    def cleanup(self):
        """Stop if needed and remove the temporary directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def signal(self, sig):
        """Send ``sig`` to the arbiter."""
        os.kill(self.proc.pid, sig)

    # -- logs ---------------------------------------------------------------

    def log(self):
        """The error log (the arbiter's and workers' stderr) so far."""
        try:
            return self.stderr_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self):
        return self.stdout_path.read_text("utf-8", errors="replace")

    def wait_for_stdout_lines(self, count, timeout=10.0):
        """The lines of stdout (the access log, when it goes there), once
        there are at least ``count``."""
        def enough():
            lines = self.stdout().splitlines()
            return (lines,) if len(lines) >= count else None
        return wait_until(enough, timeout, lambda: f"{count} lines on stdout, have "
                          f"{self.stdout()!r}\n--- log ---\n{self.log()}")[0]

    def assert_log_clean(self):
        """No traceback and no wsgiref.validate complaint in the error log."""
        text = self.log()
        for bad in ("Traceback", "WSGIWarning", "AssertionError"):
            assert bad not in text, f"{bad!r} in the error log:\n{text}"

    def records(self, name):
        """Lines a test app recorded in ``name`` (see tests/apps/_record.py)."""
        try:
            return (self.tmpdir / name).read_text().splitlines()
        except FileNotFoundError:
            return []

    def wait_for_records(self, name, count, timeout=10.0):
        """Wait until the record file ``name`` has at least ``count`` lines."""
        def enough():
            lines = self.records(name)
            return (lines,) if len(lines) >= count else None
        return wait_until(enough, timeout, lambda: f"{count} lines in {name}, have "
                          f"{self.records(name)}\n--- log ---\n{self.log()}")[0]

    def log_offset(self):
        """A mark for ``wait_for_log(after=...)``: only lines after it count."""
        return len(self.log())

    def wait_for_log(self, pattern, timeout=10.0, after=0, count=1):
        """Wait until ``pattern`` matches ``count`` times in the log after
        offset ``after``; return the last match. Fails with the log."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found():
            exited = self.proc is not None and self.proc.poll() is not None
            # Read after the exit check: a line written just before exit counts.
            matches = list(regex.finditer(self.log()[after:]))
            if len(matches) >= count:
                return matches[count - 1]
            if exited:
                raise ServerError(
                    f"server exited ({self.proc.returncode}) before {regex.pattern!r} "
                    f"appeared\n--- log ---\n{self.log()}\n--- stdout ---\n{self.stdout()}")
            return None
        try:
            return wait_until(found, timeout, "")
        except ServerError:
            raise
        except AssertionError:
            raise ServerError(f"{regex.pattern!r} did not appear {count}x within {timeout}s"
                              f"\n--- log ---\n{self.log()}") from None

    def booted_pids(self):
        """Every pid logged as ``Booting worker with pid: N``, in order."""
        return [int(m.group("pid")) for m in BOOTING_RE.finditer(self.log())]

    def worker_pids(self):
        """The arbiter's live child processes (its workers), from /proc."""
        live = children(self.proc.pid)
        # A booted pid that is no child of the arbiter (any more) is not
        # remembered: its pid may already belong to an unrelated process.
        for pid in live:
            self.tree.track(pid)
        return live

    def wait_for_workers(self, n, timeout=10.0, exclude=()):
        """Wait until exactly ``n`` live workers exist, none in ``exclude``."""
        def ready():
            pids = self.worker_pids()
            return (pids,) if len(pids) == n and not set(pids) & set(exclude) else None
        return wait_until(ready, timeout,
                          lambda: f"{n} workers, have {self.worker_pids()}\n{self.log()}")[0]

    # -- clients ------------------------------------------------------------

    def connection(self, timeout=10.0):
        """A new ``http.client`` connection to the server."""
        if self.port is None:
            return UnixHTTPConnection(self.address, timeout=timeout)
        return http.client.HTTPConnection(self.address[0], self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        """One request on a fresh connection; returns a fully read ``Response``."""
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            return Response.of(conn.getresponse())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def connect(self, timeout=10.0):
        """A raw socket connected to the server."""
        if self.port is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            sock = socket.socket(socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET)
        sock.settimeout(timeout)
        sock.connect(self.address)
        return sock

    @property
    def host_header(self):
        return "localhost" if self.port is None else f"127.0.0.1:{self.port}"
