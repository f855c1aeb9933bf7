"""Stuck workers and workers that cannot boot.

Covers: ``--timeout 2``: idle workers, one of them holding an idle
keep-alive connection, outlive the timeout (their heartbeat goes on); a
request stuck in Python (``hang_in_python``)
gets 504; the error log names the worker pid (at CRITICAL, with Gunicorn's
``WORKER TIMEOUT (pid:N)``), the request line and the
elapsed time, holds the worker's Python stack (the app's file and function),
and the access log has the request with 504; the exit is logged as what
happened (it ended its timed-out request and exited, never 'exited with
code 0'); a new worker serves. A request
stuck in C (a self-deadlocked pthread mutex: Python signal handlers never
run) still has its stack dumped (by the C-level handler), then the worker
is killed with SIGKILL and replaced. ``--boot-timeout 2``: a worker hanging
while importing the app is reported after about 2 s with its stack, then
killed. Crash loop: workers that die while booting (``os._exit(1)`` at
import) are respawned with backoff, and after ``--max-boot-failures 3`` the
arbiter exits with code 3 and says why. An app whose import raises
(RuntimeError) or fails with an ImportError stops the arbiter at start with
exit code 4 and its traceback, reported once even with several workers.
"""
import http.client
import re
import time

import pytest

from tests.harness.process import APPS_DIR, BOOTING_RE, wait_until

APP_FILE = str(APPS_DIR / "sv_app.py")


def _stack_frame(function, path=APP_FILE):
    return re.compile(r'File "%s", line \d+ in %s' % (re.escape(path), function))


@pytest.mark.timeout(30)
def test_idle_workers_beat_and_outlive_the_timeout(server_factory):
    server = server_factory("sv_app", "--timeout", "2", workers=2)
    workers = server.wait_for_workers(2)
    mark = server.log_offset()
    conn = server.connection()
    try:
        conn.request("GET", "/")
        first = conn.getresponse()
        assert first.status == 200 and not first.will_close
        body = first.read()
        time.sleep(3.5)         # idle for longer than the timeout, on purpose
        conn.request("GET", "/")
        second = conn.getresponse()
        assert second.status == 200
        assert second.read() == body        # the same worker, same connection
    finally:
        conn.close()
    assert server.worker_pids() == workers
    text = server.log()[mark:]
    assert "timed out" not in text and "heartbeat" not in text, text


@pytest.mark.timeout(30)
def test_timeout_in_python_504_stack_access_log_and_replacement(server_factory):
    server = server_factory("sv_app", workers=1, start=False)
    access = server.tmpdir / "access.log"
    server.args = ("--timeout", "2", "--access-logfile", str(access))
    server.start()
    (old,) = server.wait_for_workers(1)
    mark = server.log_offset()
    started = time.monotonic()
    resp = server.get("/hang", timeout=20)
    took = time.monotonic() - started
    assert resp.status == 504, (resp, server.log())
    assert 2.0 <= took < 6.0, took
    text = server.log()[mark:]
    line = re.search(r"\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\) Worker (\d+) timed out "
                     r"after ([\d.]+) s serving 'GET /hang HTTP/1.1'; dumping its stack",
                     text)
    assert line and int(line.group(1)) == int(line.group(2)) == old, text
    assert float(line.group(3)) >= 2.0
    dump = text[line.end():]
    assert _stack_frame("hang_in_python").search(dump), text
    assert re.search(r"\[%d\] \[ERROR\] Request GET /hang timed out after [\d.]+ s; "
                     r"answering 504" % old, text), text
    server.wait_for_log(r"Worker %d ended its timed-out request and exited; "
                        r"replacing it" % old, after=mark)
    assert "Worker %d exited with code 0" % old not in server.log()[mark:]
    new = int(server.wait_for_log(BOOTING_RE, after=mark).group("pid"))
    assert new != old
    server.wait_for_workers(1, exclude=[old])
    after = server.get("/")
    assert after.status == 200 and int(after.body.split()[0]) == new
    # The line is written once the response is sent: poll for it.
    lines = wait_until(lambda: re.search(r'"GET / HTTP/1.1" 200 ', access.read_text())
                       and access.read_text().splitlines(), 5, access.read_text)
    assert any(re.search(r'"GET /hang HTTP/1.1" 504 ', line) for line in lines), lines


@pytest.mark.timeout(30)
def test_timeout_in_c_code_dumps_stack_then_sigkill_and_replacement(server_factory):
    server = server_factory("sv_app", "--timeout", "2", workers=1)
    (old,) = server.wait_for_workers(1)
    mark = server.log_offset()
    started = time.monotonic()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        server.get("/cstuck", timeout=20)
    took = time.monotonic() - started
    assert 4.0 <= took < 9.0, took
    text = server.log()[mark:]
    line = re.search(r"Worker %d timed out after [\d.]+ s serving 'GET /cstuck "
                     r"HTTP/1.1'; dumping its stack" % old, text)
    assert line, text
    assert _stack_frame("stuck_in_c").search(text, line.end()), text
    assert re.search(r"Worker %d did not stop after its timeout; sending SIGKILL"
                     % old, text), text
    server.wait_for_log(r"Worker %d killed by signal 9 after its timeout; replacing it"
                        % old, after=mark)
    # The Python-level unwinding never ran: no 504 was attempted.
    assert "answering 504" not in server.log()[mark:]
    new = int(server.wait_for_log(BOOTING_RE, after=mark).group("pid"))
    server.wait_for_workers(1, exclude=[old])
    after = server.get("/")
    assert after.status == 200 and int(after.body.split()[0]) == new


@pytest.mark.timeout(30)
def test_boot_hang_killed_after_boot_timeout(server_factory):
    server = server_factory("sv_boot_hang", "--boot-timeout", "2",
                            "--max-boot-failures", "1", workers=1, start=False)
    server.start(wait=False)
    booting = server.wait_for_log(BOOTING_RE)
    booted_seen = time.monotonic()
    pid = int(booting.group("pid"))
    line = server.wait_for_log(r"Worker %d did not boot within boot-timeout "
                               r"\(([\d.]+) s\); dumping its stack, then killing it" % pid)
    reported_after = time.monotonic() - booted_seen
    assert 2.0 <= float(line.group(1)) < 3.0, line.group(0)
    assert 1.5 <= reported_after < 3.5, reported_after
    assert server.wait_exit(10) == 3, server.log()
    text = server.log()
    assert _stack_frame("hang_at_import", str(APPS_DIR / "sv_boot_hang.py")).search(
        text, line.end()), text
    assert re.search(r"Worker %d did not stop after its timeout; sending SIGKILL" % pid,
                     text), text
    assert re.search(r"Error: workers failed to boot 1 times? in a row \(last: worker "
                     r"%d killed by signal 9 after its timeout\); giving up" % pid,
                     server.log()), server.log()


@pytest.mark.timeout(30)
def test_crash_loop_backs_off_then_exits_3(server_factory):
    server = server_factory("sv_boot_exit", "--max-boot-failures", "3", workers=2,
                            start=False)
    started = time.monotonic()
    server.start(wait=False)
    assert server.wait_exit(20) == 3, server.log()
    took = time.monotonic() - started
    text = server.log()
    booted = [int(m.group("pid")) for m in BOOTING_RE.finditer(text)]
    assert len(booted) == 3, text
    delays = [float(d) for d in re.findall(
        r"Worker \d+ exited with code 1 while booting; respawning in ([\d.]+) s", text)]
    assert delays == [0.1, 0.2], text
    assert re.search(r"Error: workers failed to boot 3 times in a row \(last: worker "
                     r"%d exited with code 1\); giving up" % booted[-1], text), text
    assert "Ready:" not in text
    assert took < 10, took


@pytest.mark.timeout(30)
@pytest.mark.parametrize("app, error", [
    ("sv_boot_raise", r"RuntimeError: sv_boot_raise: database unreachable at import"),
    ("sv_import_error", r"ModuleNotFoundError: No module named "
                        r"'sv_no_such_module_anywhere'"),
], ids=["RuntimeError", "ImportError"])
def test_app_that_cannot_be_imported_exits_4(server_factory, app, error):
    server = server_factory(app, workers=3, start=False)
    server.start(wait=False)
    assert server.wait_exit(20) == 4, server.log()
    text = server.log()
    assert re.search(r"Error: the application '%s' could not be loaded" % app, text), text
    assert "Traceback" in text and re.search(error, text), text
    assert "Ready:" not in text


@pytest.mark.timeout(30)
def test_boot_error_traceback_reported_once_with_several_workers(server_factory):
    server = server_factory("sv_boot_raise", workers=3, start=False)
    server.start(wait=False)
    assert server.wait_exit(20) == 4, server.log()
    reports = re.findall(r"RuntimeError: sv_boot_raise: database unreachable", server.log())
    assert len(reports) == 1, server.log()
