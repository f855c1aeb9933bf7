"""Functional-test harness: run the real ``appserver`` command and talk to it.

Contract:

* ``Server(app, args=(...), ...)`` runs ``python -m appserver APP --bind
  BIND [--workers N] ARGS`` in a subprocess. Its stdout and stderr go to
  files in a private temporary directory (never to a pipe that could fill
  up). ``PYTHONPATH`` holds the repository root (so ``appserver`` imports
  without being installed) and the given ``pythonpath`` directories
  (``tests/apps`` by default). The variable ``TESTAPP_RECORD_DIR`` names
  that temporary directory; test apps write their records (``close.log``,
  ``slow.log``) there.
* ``start()`` returns once the error log shows ``Listening at: ...`` and
  ``Ready: N workers booted``; it raises ``ServerError`` with the whole log if
  the process exits or the lines do not appear in time. ``port`` and
  ``address`` come from the ``Listening at`` line, so binding port 0 works.
* ``stop()`` sends SIGTERM, waits (bounded), then SIGKILLs the arbiter and
  every worker pid it has seen, by pid. It is idempotent and returns the
  arbiter's exit code (also kept in ``returncode``).
* Client helpers: ``request()`` (``http.client``, TCP or unix socket),
  ``connect()`` (a raw socket), and ``read_response()`` (a strict, small
  HTTP/1.x response reader over one buffered file, for pipelining and for
  checking framing byte by byte).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = Path(__file__).resolve().parent / "apps"

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0

LISTENING_RE = re.compile(r"Listening at: (?P<url>\S+) \((?P<pid>\d+)\)")
READY_RE = re.compile(r"Ready: (?P<n>\d+) workers? booted")
BOOTING_RE = re.compile(r"Booting worker with pid: (?P<pid>\d+)")


class ServerError(AssertionError):
    """The server did not do what the harness waited for; carries the log."""


# --------------------------------------------------------------------------
# Clients


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a unix-domain socket (the Host header is fake)."""

    def __init__(self, path, timeout=10.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


@dataclass
class Response:
    """A fully read response."""

    status: int
    reason: str
    version: str
    headers: list  # [(name, value)] in wire order
    body: bytes
    raw_head: bytes = b""
    chunked: bool = False
    complete: bool = True  # False if the body's framing was cut short

    def header(self, name, default=None):
        """The first value of header ``name`` (case-insensitive)."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    def header_all(self, name):
        """All values of header ``name`` (case-insensitive)."""
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        import json

        return json.loads(self.body)


def _from_http_client(resp):
    body = resp.read()
    return Response(
        status=resp.status,
        reason=resp.reason,
        version="HTTP/1.1" if resp.version == 11 else "HTTP/1.0",
        headers=list(resp.getheaders()),
        body=body,
        chunked=bool(resp.chunked),
    )


def read_response(rfile, method="GET"):
    """Read one HTTP/1.x response from the buffered binary file ``rfile``.

    Frames the body the way RFC 9112 section 6.3 says a client must: no body
    for HEAD, 1xx, 204 and 304; chunked; Content-Length; else until EOF.
    Interim 1xx responses are skipped. Raises ``EOFError`` if the connection
    closes before a status line. A body cut short by EOF is returned with
    ``complete=False``.
    """
    while True:
        status_line = rfile.readline(65537)
        if not status_line:
            raise EOFError("connection closed before a status line")
        head = [status_line]
        m = re.match(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?\r\n$", status_line)
        if not m:
            raise ValueError(f"bad status line: {status_line!r}")
        version, status = m.group(1).decode(), int(m.group(2))
        reason = (m.group(3) or b"").decode("latin-1")
        headers = _read_fields(rfile, head)
        if 100 <= status < 200 and status != 101:
            continue
        break
    resp = Response(status, reason, version, headers, b"", raw_head=b"".join(head))
    te = ",".join(resp.header_all("transfer-encoding")).lower()
    if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return resp
    if te:
        if te.replace(" ", "").split(",")[-1] != "chunked":
            raise ValueError(f"unexpected transfer-encoding {te!r}")
        resp.chunked = True
        resp.body, resp.complete = _read_chunked(rfile)
    elif resp.header("content-length") is not None:
        n = int(resp.header("content-length"))
        resp.body = _read_exact(rfile, n)
        resp.complete = len(resp.body) == n
    else:
        resp.body = rfile.read()
    return resp


def _read_fields(rfile, head):
    fields = []
    while True:
        line = rfile.readline(65537)
        head.append(line)
        if line in (b"\r\n", b""):
            return fields
        if not line.endswith(b"\r\n"):
            raise ValueError(f"header line not ended by CRLF: {line!r}")
        name, sep, value = line[:-2].partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line: {line!r}")
        fields.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))


def _read_exact(rfile, n):
    parts = []
    while n > 0:
        data = rfile.read(n)
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


def _read_chunked(rfile):
    parts = []
    while True:
        line = rfile.readline(65537)
        if not line:
            return b"".join(parts), False
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            _read_fields(rfile, [])
            return b"".join(parts), True
        data = _read_exact(rfile, size)
        parts.append(data)
        if len(data) < size or rfile.read(2) != b"\r\n":
            return b"".join(parts), False


def recv_until_closed(sock, timeout=10.0):
    """Read from ``sock`` until the peer closes it; fail if it stays open."""
    deadline = time.monotonic() + timeout
    parts = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("connection was not closed by the server")
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return b"".join(parts)
        except socket.timeout:
            raise AssertionError(
                f"connection was not closed by the server; got {b''.join(parts)[:300]!r}"
            ) from None
        if not data:
            return b"".join(parts)
        parts.append(data)


# --------------------------------------------------------------------------
# The server process


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
    proc: subprocess.Popen | None = field(init=False, default=None)
    port: int | None = field(init=False, default=None)
    url: str | None = field(init=False, default=None)
    returncode: int | None = field(init=False, default=None)
    _seen_pids: dict = field(init=False, default_factory=dict)  # pid -> start time

    def __post_init__(self):
        # Short path: unix socket paths are limited to ~107 bytes.
        self.tmpdir = Path(tempfile.mkdtemp(prefix="as-"))
        self.stdout_path = self.tmpdir / "stdout.log"
        self.stderr_path = self.tmpdir / "stderr.log"
        if self.bind is None:
            self.bind = f"unix:{self.tmpdir / 's.sock'}" if self.unix else "127.0.0.1:0"

    # -- lifecycle ----------------------------------------------------------

    @property
    def command(self):
        cmd = [sys.executable, "-m", "appserver", self.app, "--bind", self.bind]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        return cmd + [str(a) for a in self.args]

    def _environ(self):
        env = dict(os.environ)
        env.update(self.env or {})
        paths = [str(REPO_ROOT)]
        paths += [str(p) for p in (self.pythonpath if self.pythonpath is not None else [APPS_DIR])]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONUNBUFFERED"] = "1"
        env["TESTAPP_RECORD_DIR"] = str(self.tmpdir)
        return env

    def start(self, wait=True):
        """Start the process; with ``wait``, return once all workers are ready."""
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.command,
                cwd=str(self.cwd) if self.cwd else str(REPO_ROOT),
                env=self._environ(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        if wait:
            self.wait_ready()
        return self

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
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.worker_pids()
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.worker_pids()
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.returncode = self.proc.returncode
        self._kill_leftovers()
        return self.returncode

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait for the arbiter to exit by itself; return its exit code."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ServerError(f"arbiter did not exit within {timeout}s\n{self.log()}") from None
        return self.returncode

    def _kill_leftovers(self):
        for pid in sorted(self._seen_pids):
            if self._is_ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def leftover_pids(self):
        """Worker pids seen earlier that are still alive (and still ours)."""
        return sorted(p for p in self._seen_pids if self._is_ours(p))

    def _is_ours(self, pid):
        """Alive, not a zombie, and the very process we saw (pid not reused)."""
        return _state(pid) not in (None, "Z") and _starttime(pid) == self._seen_pids[pid]

    def _remember(self, pids):
        for pid in pids:
            if pid not in self._seen_pids:
                start = _starttime(pid)
                if start is not None:
                    self._seen_pids[pid] = start

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
        deadline = time.monotonic() + timeout
        while True:
            lines = self.records(name)
            if len(lines) >= count:
                return lines
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{name} has {lines}, expected {count} lines\n--- log ---\n{self.log()}"
                )
            time.sleep(0.02)

    def log_offset(self):
        """A mark for ``wait_for_log(after=...)``: only lines after it count."""
        return len(self.log())

    def wait_for_log(self, pattern, timeout=10.0, after=0, count=1):
        """Wait until ``pattern`` matches ``count`` times in the log after
        offset ``after``; return the last match. Fails with the log."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()[after:]
            matches = list(regex.finditer(text))
            if len(matches) >= count:
                return matches[count - 1]
            if self.proc is not None and self.proc.poll() is not None:
                # One last read: the line may have been written just before exit.
                matches = list(regex.finditer(self.log()[after:]))
                if len(matches) >= count:
                    return matches[count - 1]
                raise ServerError(
                    f"server exited ({self.proc.returncode}) before {regex.pattern!r} "
                    f"appeared\n--- log ---\n{self.log()}\n--- stdout ---\n{self.stdout()}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{regex.pattern!r} did not appear {count}x within {timeout}s"
                    f"\n--- log ---\n{self.log()}"
                )
            time.sleep(0.02)

    def booted_pids(self):
        """Every pid logged as ``Booting worker with pid: N``, in order."""
        return [int(m.group("pid")) for m in BOOTING_RE.finditer(self.log())]

    def worker_pids(self):
        """The arbiter's live child processes (its workers), from /proc."""
        pids = set()
        try:
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                try:
                    pids.update(int(p) for p in (task / "children").read_text().split())
                except (FileNotFoundError, ProcessLookupError):
                    pass
        except FileNotFoundError:
            pass
        live = {p for p in pids if _state(p) not in (None, "Z")}
        self._remember(live)
        # A booted pid that is no child of the arbiter (any more) is not
        # remembered: its pid may already belong to an unrelated process.
        return sorted(live)

    def wait_for_workers(self, n, timeout=10.0, exclude=()):
        """Wait until exactly ``n`` live workers exist, none in ``exclude``."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) == n and not set(pids) & set(exclude):
                return pids
            if time.monotonic() > deadline:
                raise ServerError(f"expected {n} workers, have {pids}\n{self.log()}")
            time.sleep(0.02)

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
            return _from_http_client(conn.getresponse())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def connect(self, timeout=10.0):
        """A raw socket connected to the server."""
        if self.port is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = self.address
        else:
            sock = socket.socket(socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET)
            target = self.address
        sock.settimeout(timeout)
        sock.connect(target)
        return sock

    @property
    def host_header(self):
        return "localhost" if self.port is None else f"127.0.0.1:{self.port}"


# --------------------------------------------------------------------------
# /proc helpers


def _die_with_parent():
    """In the child before exec: get SIGTERM if the test process dies, so a
    killed pytest leaves no server behind (Linux ``PR_SET_PDEATHSIG``).
    The signal follows the thread that started the server: start servers
    from the main thread (fixtures do)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()


def _state(pid):
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _starttime(pid):
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def cmdline(pid):
    """``/proc/PID/cmdline`` as one string (NULs to spaces, trimmed)."""
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def open_paths(pid):
    """The paths of the files process ``pid`` holds open (``/proc/PID/fd``);
    empty once it has exited."""
    fd_dir = f"/proc/{pid}/fd"
    paths = set()
    try:
        fds = os.listdir(fd_dir)
    except (FileNotFoundError, ProcessLookupError):
        return paths
    for fd in fds:
        try:
            paths.add(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            pass
    return paths
