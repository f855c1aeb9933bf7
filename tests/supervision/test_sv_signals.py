"""The other stop signals, USR1, and workers whose arbiter was killed.

Covers: TERM with a request that outlives ``--graceful-timeout``: the
arbiter kills the worker once the graceful timeout has passed and exits 0,
leaving no worker. INT and QUIT: a quick stop; a worker stuck in a long
request is killed after the 2 s quick-stop grace. USR1 after the log files
were moved away (logrotate): the arbiter and every worker write to new
files at the configured paths (error log and access log). SIGKILL of the
arbiter: its workers notice and exit by themselves (code 0). Every signal
the arbiter acts on is logged with Gunicorn's phrase (``Handling signal:
ttin``) next to ours, an INT during a graceful stop too, and SIGCHLD is
not.
"""
import os
import re
import signal
import threading
import time

import pytest

from tests.harness.clients import recv_until_closed
from tests.harness.process import Subreaper, wait_until
from tests.harness.procfs import open_paths, parent_of
from tests.supervision.sv_load import wait_booted


def _slow_in_thread(server, seconds):
    result = {}

    def run():
        try:
            result["resp"] = server.get("/sleep?s=%s" % seconds, timeout=30)
        except Exception as exc:  # the stop cuts it: reported to the test
            result["resp"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    server.wait_for_records("sv_slow.log", 1)
    return thread, result


@pytest.mark.timeout(30)
def test_term_kills_what_outlives_graceful_timeout(server_factory):
    server = server_factory("sv_app", "--graceful-timeout", "1", workers=2)
    workers = server.wait_for_workers(2)
    thread, result = _slow_in_thread(server, 20)
    started = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.wait_exit(10) == 0, server.log()
    took = time.monotonic() - started
    assert 1.0 <= took < 3.0, took
    assert "Killing 1 workers that did not stop in time" in server.log()
    thread.join(5)
    assert isinstance(result["resp"], Exception), result
    assert server.leftover_pids() == [], workers


@pytest.mark.timeout(30)
@pytest.mark.parametrize("sig", ["INT", "QUIT"])
def test_quick_stop_kills_a_stuck_worker_after_grace(server_factory, sig):
    server = server_factory("sv_app", "--graceful-timeout", "20", workers=2)
    workers = server.wait_for_workers(2)
    thread, result = _slow_in_thread(server, 20)
    started = time.monotonic()
    server.signal(getattr(signal, "SIG" + sig))
    assert server.wait_exit(10) == 0, server.log()
    took = time.monotonic() - started
    assert took < 3.5, took
    assert "Received INT or QUIT: stopping now" in server.log()
    thread.join(5)
    assert isinstance(result["resp"], Exception), result
    assert server.leftover_pids() == [], workers


@pytest.mark.timeout(30)
def test_usr1_reopens_error_and_access_logs_everywhere(server_factory, tmp_path):
    error_log, access_log = tmp_path / "error.log", tmp_path / "access.log"
    server = server_factory("sv_app", "--error-logfile", error_log,
                            "--access-logfile", access_log, workers=2, start=False)
    server.start(wait=False)
    wait_until(lambda: error_log.exists() and "Ready: 2 workers" in error_log.read_text(),
               15, lambda: server.log())
    port = int(re.search(r"Listening at: http://127.0.0.1:(\d+)",
                                       error_log.read_text()).group(1))
    server.address, server.port = ("127.0.0.1", port), port
    workers = server.worker_pids()
    assert server.get("/").status == 200
    wait_until(lambda: access_log.exists() and access_log.read_text(), 5)
    error_log.rename(tmp_path / "error.log.1")
    access_log.rename(tmp_path / "access.log.1")
    server.signal(signal.SIGUSR1)
    # The arbiter logs the signal (to the old file), then reopens.
    wait_until(error_log.exists, 5, lambda: (tmp_path / "error.log.1").read_text())
    assert "Received USR1" in (tmp_path / "error.log.1").read_text()
    # Each worker reopens when its own loop handles the signal: wait until no
    # process of the server still holds a rotated file open.
    rotated = {str(tmp_path / "error.log.1"), str(tmp_path / "access.log.1")}
    wait_until(lambda: not any(open_paths(pid) & rotated
                               for pid in [server.pid, *workers]), 5,
               lambda: {pid: open_paths(pid) for pid in workers})
    # Every worker writes to the new files: its access lines, and the line it
    # logs for a malformed request.
    served, rejected = set(), set()
    deadline = time.monotonic() + 10
    while (served != set(workers) or rejected != set(workers)) \
            and time.monotonic() < deadline:
        served.add(int(server.get("/").body.split()[0]))
        with server.connect() as sock:
            sock.sendall(b"NOT HTTP\r\n\r\n")
            recv_until_closed(sock)
        rejected = {int(pid) for pid in re.findall(r"\[(\d+)\] \[INFO\] client ",
                                                   error_log.read_text())}
    assert served == set(workers) and rejected == set(workers), (served, rejected,
                                                                  workers)
    assert len(access_log.read_text().splitlines()) >= 2
    assert server.worker_pids() == workers       # no restart was needed
    assert not re.search(r"\[INFO\] client ", (tmp_path / "error.log.1").read_text())
    assert len((tmp_path / "access.log.1").read_text().splitlines()) == 1


@pytest.mark.timeout(30)
def test_workers_stop_by_themselves_when_the_arbiter_is_killed(server_factory):
    with Subreaper() as reaper:
        server = server_factory("sv_app", workers=2)
        workers = server.wait_for_workers(2)
        wait_booted(server, workers)
        reaper.adopted.update(workers)
        mark = server.log_offset()
        server.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        server.proc.wait(5)
        # Orphaned, the workers are adopted by the test (their subreaper).
        wait_until(lambda: all(parent_of(pid) in (os.getpid(), None) for pid in workers),
                   5, lambda: str([parent_of(pid) for pid in workers]))
        codes = [reaper.wait(pid, 5) for pid in workers]
        took = time.monotonic() - killed_at
    assert codes == [0, 0], (codes, server.log()[mark:])
    assert took < 2.5, took
    for pid in workers:
        assert "Worker %d: the arbiter went away; stopping" % pid in server.log()


@pytest.mark.timeout(30)
def test_each_signal_is_logged_with_gunicorns_phrase(server_factory):
    server = server_factory("sv_app", workers=1)
    server.wait_for_workers(1)
    for name, ours in (("TTIN", r"Received TTIN: 2 workers wanted"),
                       ("TTOU", r"Received TTOU: 1 workers wanted"),
                       ("USR1", r"Received USR1: reopening log files"),
                       ("HUP", r"Received HUP: reloading")):
        mark = server.log_offset()
        server.signal(getattr(signal, "SIG" + name))
        server.wait_for_log(ours, after=mark)
        text = server.log()[mark:]
        assert "[INFO] Handling signal: %s\n" % name.lower() in text, text
        assert text.index("Handling signal") < text.index("Received " + name), text
    # While a graceful stop waits for a request, an INT is logged too.
    thread, result = _slow_in_thread(server, 20)
    server.signal(signal.SIGTERM)
    server.wait_for_log(r"Handling signal: term\n")
    server.signal(signal.SIGINT)
    assert server.wait_exit(10) == 0
    thread.join(5)
    log = server.log()
    assert log.index("Handling signal: term") < log.index("Handling signal: int\n"), log
    assert "Handling signal: chld" not in log, log
