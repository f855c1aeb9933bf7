"""Functional tests of the process model: a killed worker replaced, graceful
stop with a request in flight, the pid file and the process titles."""
import os
import re
import signal

import pytest

from tests.harness.clients import get_in_thread
from tests.harness.process import BOOTING_RE
from tests.harness.procfs import cmdline


@pytest.mark.timeout(30)
def test_killed_worker_is_replaced(server_factory):
    server = server_factory("pid", workers=2)
    before = server.wait_for_workers(2)
    victim = before[0]
    mark = server.log_offset()
    os.kill(victim, signal.SIGKILL)
    booted = server.wait_for_log(BOOTING_RE, timeout=15, after=mark)
    new_pid = int(booted.group("pid"))
    assert new_pid not in before
    after = server.wait_for_workers(2, exclude=[victim])
    assert new_pid in after and before[1] in after
    served = set()
    for _ in range(6):
        resp = server.get("/")
        assert resp.status == 200
        served.add(int(resp.body))
    assert served <= set(after)
    assert victim not in served


@pytest.mark.timeout(40)
def test_term_finishes_in_flight_request(server_factory):
    server = server_factory("slow", "--graceful-timeout", "15", workers=1)
    results = {}
    thread = get_in_thread(server, "/?s=2", results, "slow")
    server.wait_for_records("slow.log", 1)  # the app is now running
    assert server.records("slow.log")[0].startswith("start ")
    server.signal(signal.SIGTERM)
    thread.join(20)
    resp = results.get("slow")
    assert resp is not None and not isinstance(resp, Exception), (resp, server.log())
    assert resp.status == 200
    assert resp.json()["slept"] == 2
    assert server.wait_exit(15) == 0, server.log()
    assert server.leftover_pids() == []


@pytest.mark.timeout(30)
def test_pid_file_written_and_removed(server_factory):
    server = server_factory("hello", start=False)
    pidfile = server.tmpdir / "app.pid"
    server.args = ("--pid", str(pidfile))
    server.start()
    assert pidfile.read_text().strip() == str(server.pid)
    assert server.stop() == 0, server.log()
    assert not pidfile.exists()


def test_process_titles(server_factory):
    server = server_factory("hello", workers=2)
    master = cmdline(server.pid)
    assert re.match(r"appserver: master \[hello\]", master), master
    workers = server.wait_for_workers(2)
    for pid in workers:
        title = cmdline(pid)
        # A worker slot number may follow "worker" ("appserver: worker 1 [hello]").
        assert re.match(r"appserver: worker (\d+ )?\[hello\]", title), title


@pytest.mark.timeout(30)
def test_term_stops_idle_server_cleanly(server_factory):
    server = server_factory("hello", workers=2)
    workers = server.wait_for_workers(2)
    assert server.stop() == 0, server.log()
    assert server.leftover_pids() == [], workers
