"""Functional test of the keep-alive hand-off (DESIGN.md, "The sync worker"):
a request arriving on an idle keep-alive connection of a busy worker is
served promptly by another, free worker instead of waiting behind the busy
one's request."""
import json
import threading
import time

import pytest


def _pid_of(conn):
    conn.request("GET", "/?s=0")
    resp = conn.getresponse()
    assert resp.status == 200
    return json.loads(resp.read())["pid"]


@pytest.mark.timeout(40)
def test_idle_keep_alive_connection_not_held_by_busy_worker(server_factory):
    server = server_factory("slow", workers=2)
    server.wait_for_workers(2)
    idle = server.connection()
    busy_pid = _pid_of(idle)
    # Find a second connection that the same worker holds.
    other = None
    for _ in range(40):
        conn = server.connection()
        if _pid_of(conn) == busy_pid:
            other = conn
            break
        conn.close()
    if other is None:
        pytest.skip("no second connection landed on the same worker")
    results = {}

    def run_slow():
        other.request("GET", "/?s=3")
        results["slow"] = json.loads(other.getresponse().read())

    before = len(server.records("slow.log"))
    thread = threading.Thread(target=run_slow, daemon=True)
    thread.start()
    server.wait_for_records("slow.log", before + 1)  # the worker is now busy
    started = time.monotonic()
    pid = _pid_of(idle)
    elapsed = time.monotonic() - started
    thread.join(10)
    assert results["slow"]["pid"] == busy_pid
    assert elapsed < 1.0, (
        f"the request on the busy worker's idle keep-alive connection waited "
        f"{elapsed:.2f}s (served by {pid}, busy worker {busy_pid})")
    assert pid != busy_pid
    idle.close()
    other.close()
