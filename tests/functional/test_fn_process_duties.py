"""Process duties of the arbiter over real processes: daemon mode, dropping
privileges in the workers, umask, the pid file (stale one ignored, live one
refused) and request lines in process titles."""

import os
import pwd
import signal
import socket
import subprocess
import sys
import threading

import pytest

from tests.harness.process import app_env, free_port, wait_until
from tests.harness.procfs import cmdline


def _status_field(pid, name):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(name + ":"):
            return line.split()[1:]
    raise AssertionError("%s not in /proc/%d/status" % (name, pid))


@pytest.mark.timeout(30)
def test_daemon_detaches_serves_and_stops_on_term(tmp_path):
    port, pidfile, log = free_port(), tmp_path / "a.pid", tmp_path / "error.log"
    done = subprocess.run(
        [sys.executable, "-m", "appserver", "hello", "-D", "--bind", "127.0.0.1:%d" % port,
         "--pid", str(pidfile), "--error-logfile", str(log)],
        env=app_env(), cwd=str(tmp_path), timeout=15, stdin=subprocess.DEVNULL)
    assert done.returncode == 0                      # the foreground process left
    wait_until(pidfile.exists, 10, "the pid file")
    pid = int(pidfile.read_text())
    try:
        assert os.getsid(pid) != os.getsid(0)        # its own session: detached
        wait_until(lambda: "Ready:" in log.read_text(), 10, "Ready in the log")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200 ")
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pidfile.exists(), 15, "the pid file to be removed")


@pytest.mark.timeout(30)
@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_workers_run_as_the_given_user_and_umask(server_factory):
    nobody = pwd.getpwnam("nobody")
    # --preload: this machine's Python lives under /root, which "nobody" may
    # not read, so the app must be imported before the workers drop root.
    server = server_factory("hello", "--user", "nobody", "--group", str(nobody.pw_gid),
                            "--umask", "027", "--preload")
    worker = server.worker_pids()[0]
    assert _status_field(worker, "Uid")[0] == str(nobody.pw_uid)
    assert _status_field(worker, "Gid")[0] == str(nobody.pw_gid)
    assert _status_field(worker, "Umask") == ["0027"]
    assert _status_field(server.pid, "Uid")[0] == "0"      # the arbiter keeps root
    assert server.get("/").status == 200


def test_unknown_user_is_a_clear_startup_error():
    done = subprocess.run(
        [sys.executable, "-m", "appserver", "hello", "--user", "no-such-user-here"],
        env=app_env(), capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    assert "no such user 'no-such-user-here'" in done.stderr


def test_live_pid_file_is_refused_and_stale_one_ignored(server_factory, tmp_path):
    pidfile = tmp_path / "a.pid"
    pidfile.write_text("%d\n" % os.getpid())                # alive: this test
    done = subprocess.run(
        [sys.executable, "-m", "appserver", "hello", "--pid", str(pidfile)],
        env=app_env(), capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    assert "names process %d, which is running" % os.getpid() in done.stderr
    dead = subprocess.Popen(["true"])
    dead.wait()
    pidfile.write_text("%d\n" % dead.pid)                   # stale: that process is gone
    server = server_factory("hello", "--pid", str(pidfile))
    assert pidfile.read_text().strip() == str(server.pid)


@pytest.mark.timeout(30)
def test_proctitle_requests_shows_the_request_being_served(server_factory):
    server = server_factory("slow", "--proctitle-requests")
    worker = server.worker_pids()[0]
    thread = threading.Thread(target=server.get, args=("/busy?s=2",), daemon=True)
    thread.start()
    wait_until(lambda: "busy GET /busy?s=2 HTTP/1.1" in cmdline(worker), 10, "a busy title")
    thread.join(10)
    wait_until(lambda: cmdline(worker).startswith("appserver: worker 1 idle"), 10, "idle title")


def test_worker_role_in_the_title():
    from appserver.observe.proctitle import worker_role
    assert worker_role(2) == "worker 2 idle"
    assert worker_role(2, "GET / HTTP/1.1") == "worker 2 busy GET / HTTP/1.1"
    assert worker_role(2, "GET /" + "x" * 200, 3, 4) == "worker 2 busy 3/4 GET /" + "x" * 95


@pytest.mark.timeout(60)
def test_proctitle_requests_with_threads_counts_busy_threads_and_shows_the_oldest(
        server_factory):
    server = server_factory("slow", "--proctitle-requests", "--threads", "4")
    worker = server.worker_pids()[0]
    first = threading.Thread(target=server.get, args=("/first?s=12",),
                             kwargs={"timeout": 40}, daemon=True)
    first.start()
    wait_until(lambda: "busy 1/4 GET /first?s=12 HTTP/1.1" in cmdline(worker), 10,
               lambda: cmdline(worker))
    second = threading.Thread(target=server.get, args=("/second?s=4",), daemon=True)
    second.start()
    wait_until(lambda: "busy 2/4 GET /first?s=12 HTTP/1.1" in cmdline(worker), 10,
               lambda: cmdline(worker))
    second.join(20)         # its thread hands the connection back, then:
    wait_until(lambda: "busy 1/4 GET /first?s=12 HTTP/1.1" in cmdline(worker), 5,
               lambda: cmdline(worker))
    first.join(30)
    wait_until(lambda: cmdline(worker).startswith("appserver: worker 1 idle"), 10,
               lambda: cmdline(worker))
