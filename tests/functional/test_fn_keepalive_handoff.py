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


@pytest.mark.timeout(40)
def test_requests_passed_on_are_served_before_younger_ones(server_factory):
    """Requests that waited behind a slow one (and were passed on) go before
    a connection that arrived after them, not after it."""
    server = server_factory("order", workers=1)
    held = [server.connection() for _ in range(4)]
    for conn in held:                          # all four belong to the one worker
        conn.request("GET", "/warm")
        assert conn.getresponse().read() == b"/warm"
    slow, waiting = held[0], held[1:]
    slow.request("GET", "/slow?s=1")
    server.wait_for_records("started.log", 5)  # the worker is inside the slow call
    for n, conn in enumerate(waiting):
        conn.request("GET", "/early%d" % n)
    late = server.connection()
    late.request("GET", "/late")
    for conn in held + [late]:
        assert conn.getresponse().status == 200
    served = [p for p in server.records("order.log") if p != "/warm"]
    assert served == ["/slow", "/early0", "/early1", "/early2", "/late"], served
    for conn in held + [late]:
        conn.close()
