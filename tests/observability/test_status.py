"""``appserver status`` and slow-request warnings, over real processes.

The table shows each worker's pid, state, requests served, the request it is
running and for how long; --json prints the admin /status snapshot; --pid
finds the admin listener through FILE.admin; an unreachable arbiter exits 1.
A request running past --slow-request is warned about once, with the
worker's stack, and finishes normally.
"""
import json
import re
import subprocess
import sys
import threading

from appserver.observe.status_cli import render
from tests.harness.clients import admin_url
from tests.harness.process import REPO_ROOT, wait_until


def status_cmd(*args, cwd=None):
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "appserver", "status", *args],
                          capture_output=True, text=True, timeout=30, env=env,
                          cwd=cwd or REPO_ROOT)


def busy_request(srv, path):
    thread = threading.Thread(target=srv.get, args=(path,), kwargs={"timeout": 30})
    thread.start()
    return thread


def test_status_table_shows_a_busy_worker(obs_server):
    srv = obs_server("--admin-bind", "127.0.0.1:0", workers=2)
    srv.get("/")
    thread = busy_request(srv, "/sleep?s=3")
    def busy_with_rss():      # the arbiter measures RSS once a second
        out = status_cmd("--admin", admin_url(srv)).stdout
        return out if re.search(r" busy .*M$", out, re.M) else None
    out = wait_until(busy_with_rss, 10, "a busy worker with its RSS")
    header, columns, *rows = out.splitlines()
    assert header.startswith("arbiter %d  app obs_app  workers 2/2  ready" % srv.pid)
    assert columns.split() == ["#", "PID", "STATE", "REQS", "CONNS", "REQUEST", "AGE", "BEAT",
                               "RSS"]
    assert sorted(int(r.split()[1]) for r in rows) == srv.worker_pids()
    [busy] = [r for r in rows if " busy " in r]
    assert "GET /sleep?<hidden> HTTP/1.1" in busy and busy.split()[-1].endswith("M")
    assert busy.split()[4] == "1"           # the connection of its request
    thread.join()


def busy_line(srv, path):
    """The busy worker's request line, from /status JSON and from the table."""
    thread = busy_request(srv, path)
    def busy():
        out = status_cmd("--admin", admin_url(srv), "--json").stdout
        found = [w["request"] for w in json.loads(out)["workers"] if w["state"] == "busy"]
        return found[0] if found else None
    line = wait_until(busy, 10, "a busy worker")
    table = status_cmd("--admin", admin_url(srv)).stdout
    thread.join()
    return line, table


def test_admin_listener_hides_query_strings_by_default(obs_server):
    srv = obs_server("--admin-bind", "127.0.0.1:0")
    line, table = busy_line(srv, "/sleep?s=2&reset_token=s3cr3t")
    assert line == "GET /sleep?<hidden> HTTP/1.1"
    assert "GET /sleep?<hidden> HTTP/1.1" in table
    assert "s3cr3t" not in table


def test_admin_show_query_shows_them(obs_server):
    srv = obs_server("--admin-bind", "127.0.0.1:0", "--admin-show-query")
    line, table = busy_line(srv, "/sleep?s=2&reset_token=s3cr3t")
    assert line == "GET /sleep?s=2&reset_token=s3cr3t HTTP/1.1"
    assert line in table


def test_status_json_and_pid_file(obs_server, tmp_path):
    pid_file = tmp_path / "app.pid"
    srv = obs_server("--admin-bind", "127.0.0.1:0", "--pid", pid_file)
    assert (tmp_path / "app.pid.admin").read_text().strip() == admin_url(srv)
    result = status_cmd("--pid", pid_file, "--json")
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    assert snap["pid"] == srv.pid and snap["ready"] is True
    assert [w["pid"] for w in snap["workers"]] == srv.worker_pids()
    srv.stop()
    assert not (tmp_path / "app.pid.admin").exists()


def test_status_of_a_stopped_server_exits_1(tmp_path):
    result = status_cmd("--admin", "127.0.0.1:9")
    assert result.returncode == 1 and "cannot get the status" in result.stderr
    result = status_cmd("--pid", tmp_path / "none.pid")
    assert result.returncode == 2 and "none.pid.admin" in result.stderr


def test_render_marks_retiring_workers():
    snap = {"pid": 1, "app": "a", "workers_wanted": 1, "draining": False, "ready": True,
            "workers": [{"number": 1, "pid": 7, "state": "idle", "requests": 3,
                         "connections": 4, "request": None, "request_seconds": None,
                         "heartbeat_age": 0.2,
                         "rss": 3 * 1048576, "retiring": "reload"}]}
    lines = render(snap).splitlines()
    assert lines[2].split() == ["1", "7", "idle", "3", "4", "-", "[retiring:", "reload]",
                                "-", "0.2s", "3.0M"]


def test_slow_request_is_warned_once_with_its_stack(obs_server):
    srv = obs_server("--slow-request", "0.5", "--timeout", "30")
    resp = srv.get("/sleep?s=2.5", timeout=30)
    assert resp.status == 200
    srv.wait_for_log(r"Slow request: worker \d+ has been serving 'GET /sleep\?s=2.5 "
                     r"HTTP/1.1' for \d\.\d s \(slow-request 0.5 s\)")
    stack = srv.wait_for_log(r"stack of the slow request \(still running\):\n"
                             r"(?:.*\n)*?.*time\.sleep\(_seconds\(environ\)\)")
    assert "obs_app.py" in stack.group(0)
    assert srv.log().count("Slow request:") == 1
    srv.get("/sleep?s=0.1")
    assert srv.log().count("Slow request:") == 1
