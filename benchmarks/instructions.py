"""Instructions per request of one appserver worker, counted by callgrind.

Contract: ``python -m benchmarks.instructions [--scenario hello|hello-close|static|upload]
[--python-splitter] [--requests N] [--warmup N] [--connections K]
[--keep DIR]`` starts appserver with one
worker (the ``hello`` app) under ``valgrind --tool=callgrind``, sends
``--warmup`` requests, then ``N`` and then ``2N`` more, and prints the
worker's user-space instructions per request: (count of the 2N batch - count
of the N batch) / N, so that whatever both batches share (the marker below,
an idle loop turn) cancels. ``hello`` sends every request on one keep-alive
connection; ``hello-close`` opens a connection per request and asks
``Connection: close``. ``static`` asks, on one keep-alive connection, for a
10 KiB file that ``--static /static/=DIR`` answers from the loop (the
file written into the run's temporary directory; the app is not called).
``upload`` POSTs a 1 MiB body (``UPLOAD_SIZE``) per request on one
keep-alive connection to the ``upload`` app, which reads ``wsgi.input`` in
64 KiB reads and answers the count.
``--python-splitter`` makes the server use the
Python head splitter (``plain.split_python``) instead of the C one.
``--connections K`` (``hello``, ``static``) sends one request on each of K
keep-alive connections per round, so one loop turn serves up to K, as
under wrk. ``--keep DIR`` keeps callgrind's files.

The batches are marked from outside: the tool sends the worker ``SIGUSR1``
(reopen the logs) after each batch, once the last response is in, and
callgrind dumps its counters when the worker's answer to it reaches
``MARKER`` (``--dump-before``). The worker's count up to a marker is the sum of its
dump files written so far (another signal, such as a timer's, only splits a
batch in more files). ``measure`` returns the figures as a dict;
``main`` prints them. Without valgrind it exits 2 and says what to install.
Only 127.0.0.1 is targeted; the server is stopped by its pid, and every
wait is bounded.
"""
import argparse
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

REPO = Path(__file__).resolve().parent.parent
APPS = REPO / "benchmarks" / "apps"
SCENARIOS = ("hello", "hello-close", "static", "upload")
UPLOAD_SIZE = 1 << 20
# The app each scenario runs (a module of benchmarks/apps).
APPS_OF = {"upload": "upload:application"}
STATIC_PATH, STATIC_SIZE = "/static/10k.bin", 10 * 1024
# The server's command when the Python splitter is asked for: the same
# command line, with ``plain.split`` replaced before anything parses.
PYTHON_SPLITTER = ("import sys; from appserver.http import plain; "
                   "plain.split = plain.split_python; from appserver.cli import main; "
                   "sys.exit(main())")
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
BOOTED = re.compile(r"Booting worker with pid: (\d+)")
READY = "Ready: 1 workers booted"
# The C function callgrind dumps its counters before: the worker calls it
# (``faulthandler.register``, from ``LongCall.register_stack_dump``) on
# SIGUSR1, and at boot. CPython's C signal handler itself cannot be the
# marker: callgrind does not see a signal handler's start as a call.
MARKER = "faulthandler_register_py"
TIMEOUT = 120.0     # for start-up and each batch; callgrind runs ~50x slower


class MeasureError(RuntimeError):
    """The server did not start or answer as expected; carries its log."""


def _wait(test, what, log, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        time.sleep(0.05)
    raise MeasureError("timed out waiting for %s; server log:\n%s"
                       % (what, log.read_text(errors="replace")[-3000:]))


def _read_response(sock, buf, expect=None):
    """Read one response with a Content-Length off ``sock``; return what
    follows it in ``buf`` (b"" on a connection the server closes). With
    ``expect``, the response's body must be those bytes."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise MeasureError("connection closed before a response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise MeasureError("unexpected response: %r" % head[:200])
    length = int(re.search(rb"\r\ncontent-length: *(\d+)", head, re.I).group(1))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise MeasureError("connection closed inside a body")
        rest += chunk
    if expect is not None and rest[:length] != expect:
        raise MeasureError("unexpected body: %r (expected %r)" % (rest[:length][:200], expect))
    return rest[length:]


def drive(port, scenario, count, connections=1):
    """Send ``count`` requests of ``scenario`` and read every response; for
    ``hello`` and ``static``, in rounds of one request on each of
    ``connections`` keep-alive connections (``count`` a multiple of it)."""
    host = "127.0.0.1:%d" % port
    if scenario == "upload":
        _upload(port, host, count)
        return
    if scenario in ("hello", "static"):
        target = STATIC_PATH if scenario == "static" else "/"
        request = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, host)).encode()
        socks = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                 for _ in range(connections)]
        try:
            bufs = [b""] * connections
            for _ in range(count // connections):
                for sock in socks:
                    sock.sendall(request)
                for i, sock in enumerate(socks):
                    bufs[i] = _read_response(sock, bufs[i])
        finally:
            for sock in socks:
                sock.close()
        return
    request = ("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode()
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            _read_response(sock, b"")
            while sock.recv(65536):     # the server closes: read to the end
                pass


def _upload(port, host, count):
    """``count`` POSTs of ``UPLOAD_SIZE`` bytes on one keep-alive connection;
    each answer must be the body's size."""
    head = ("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream"
            "\r\nContent-Length: %d\r\n\r\n" % (host, UPLOAD_SIZE)).encode()
    body, answer = b"x" * UPLOAD_SIZE, str(UPLOAD_SIZE).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        buf = b""
        for _ in range(count):
            sock.sendall(head)
            sock.sendall(body)
            buf = _read_response(sock, buf, answer)


def _dumps(outdir, pid):
    """The instruction counts of the worker's complete dump files, in order."""
    counts = []
    for path in sorted(outdir.glob("cg.%d.*" % pid), key=lambda p: int(p.suffix[1:])):
        match = re.search(r"^totals: (\d+)", path.read_text(errors="replace"), re.M)
        if match is None:
            return None             # still being written
        counts.append(int(match.group(1)))
    return counts


def _mark(outdir, pid, log):
    """Signal the worker, wait for the dump it makes, return its count so far."""
    seen = len(_dumps(outdir, pid) or ())
    os.kill(pid, signal.SIGUSR1)
    counts = _wait(lambda: (lambda c: c if c is not None and len(c) > seen else None)(
        _dumps(outdir, pid)), "the worker's callgrind dump", log)
    return sum(counts)


def server_argv(valgrind, outdir, python_splitter, extra=(), app="hello:application"):
    cmd = ["-c", PYTHON_SPLITTER] if python_splitter else ["-m", "appserver"]
    return [valgrind, "--tool=callgrind", "--dump-before=%s" % MARKER, "--compress-strings=no",
            "--callgrind-out-file=%s" % (outdir / "cg.%p"),
            sys.executable] + cmd + [
            "--bind", "127.0.0.1:0", "--workers", "1", "--timeout", "300",
            *extra, app]


def measure(scenario="hello", requests=2000, warmup=200, python_splitter=False, keep=None,
            connections=1):
    """{'instructions_per_request', 'batches'...} for one worker under callgrind;
    ``keep``: a directory to copy callgrind's files into (``callgrind_annotate``);
    ``connections``: for ``hello`` and ``static``, how many keep-alive
    connections take turns (``requests`` and ``warmup`` are rounded down to
    a multiple)."""
    if scenario not in ("hello", "static"):
        connections = 1
    requests -= requests % connections
    warmup -= warmup % connections
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise FileNotFoundError("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="instr-") as tmp:
        outdir = Path(tmp)
        log = outdir / "server.log"
        path = os.pathsep.join(p for p in (str(REPO), str(APPS), os.environ.get("PYTHONPATH"))
                               if p)
        env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")
        with open(log, "wb") as out:
            proc = subprocess.Popen(server_argv(valgrind, outdir, python_splitter,
                                                _static_args(outdir, scenario),
                                                APPS_OF.get(scenario, "hello:application")),
                                    cwd=str(REPO),
                                    env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            pid = None
            text = lambda: log.read_text(errors="replace")     # noqa: E731
            _wait(lambda: proc.poll() is not None or READY in text(), "the server", log)
            if proc.poll() is not None:
                raise MeasureError("the server exited:\n%s" % text()[-3000:])
            port = int(LISTENING.search(text()).group(1))
            pid = int(BOOTED.search(text()).group(1))
            drive(port, scenario, warmup, connections)
            before = _mark(outdir, pid, log)
            counts = []
            for size in (requests, 2 * requests):
                drive(port, scenario, size, connections)
                after = _mark(outdir, pid, log)
                counts.append(after - before)
                before = after
        finally:
            _stop(proc, pid)
            if keep is not None:
                shutil.copytree(outdir, keep, dirs_exist_ok=True)
    return {"scenario": scenario, "splitter": "Python" if python_splitter else "C",
            "requests": requests, "connections": connections, "batches": counts,
            "instructions_per_request": (counts[1] - counts[0]) / requests}


def _static_args(outdir, scenario):
    """``--static`` over a directory holding the file the ``static`` scenario
    asks for (written into ``outdir``); nothing for the other scenarios."""
    if scenario != "static":
        return []
    directory = outdir / "static"
    directory.mkdir()
    (directory / os.path.basename(STATIC_PATH)).write_bytes(b"s" * STATIC_SIZE)
    return ["--static", "/static/=%s" % directory]


def _stop(proc, worker):
    """TERM the arbiter by its pid; KILL it and its worker if they linger."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    if worker is not None:
        try:
            os.kill(worker, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="hello")
    parser.add_argument("--python-splitter", action="store_true",
                        help="use the Python head splitter (plain.split_python)")
    parser.add_argument("--requests", type=int, default=2000,
                        help="N: the batches are N and 2N requests (default 2000)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--keep", metavar="DIR",
                        help="keep callgrind's files (one per dump) in DIR, for callgrind_annotate")
    parser.add_argument("--connections", type=int, default=1, metavar="K",
                        help="hello, static: K keep-alive connections, one request on each "
                        "per round, so one loop turn serves up to K (default 1)")
    args = parser.parse_args(argv)
    try:
        result = measure(args.scenario, args.requests, args.warmup, args.python_splitter,
                         args.keep, args.connections)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("%s, %s splitter, %d connection(s): %.0f instructions per request (batches of "
          "%d and %d requests: %d and %d instructions)"
          % (result["scenario"], result["splitter"], result["connections"],
             result["instructions_per_request"], result["requests"], 2 * result["requests"],
             result["batches"][0], result["batches"][1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
