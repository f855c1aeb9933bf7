"""Pool size under load: TTIN/TTOU, and a worker killed with SIGKILL.

Covers: TTIN and TTOU under a steady stream of requests (new connection
per request, and keep-alive): the number of the arbiter's children (from
/proc) follows each signal, TTOU stops the oldest worker, never goes below
one worker, and no request fails. ``kill -9`` of a worker: a replacement
is forked and the child count is whole again within 1 s of the kill; only
requests the killed worker held can fail, none after the pool is whole,
and the replacement serves. A request counts as *after* the pool is whole
by when it began, not by when its client thread noticed the failure: the
reset of a connection the killed worker held may be read by a load thread
that gets the CPU only after the replacement is forked.
"""
import os
import signal
import time

import pytest

from tests.harness.load import Load
from tests.harness.process import BOOTING_RE, wait_until
from tests.harness.procfs import children
from tests.supervision.sv_load import wait_booted


@pytest.mark.timeout(40)
@pytest.mark.parametrize("keepalive", [False, True], ids=["new-conn", "keep-alive"])
def test_ttin_ttou_worker_count_follows_with_no_failed_request(server_factory,
                                                              keepalive):
    server = server_factory("sv_app", workers=2)
    server.wait_for_workers(2)
    steps = [("TTIN", 3), ("TTIN", 4), ("TTOU", 3), ("TTOU", 2), ("TTOU", 1),
             ("TTOU", 1), ("TTIN", 2)]
    with Load(server, threads=4, keepalive=keepalive, duration=30) as load:
        load.wait_for_ok(30)
        for name, wanted in steps:
            before = server.worker_pids()
            booted_order = [int(m.group("pid")) for m in BOOTING_RE.finditer(server.log())]
            mark = server.log_offset()
            server.signal(getattr(signal, "SIG" + name))
            server.wait_for_log(r"Received %s: %d workers? wanted" % (name, wanted),
                                after=mark)
            after = server.wait_for_workers(wanted)
            wait_booted(server, after)
            if name == "TTOU" and len(before) > wanted:
                oldest = min(before, key=booted_order.index)
                server.wait_for_log(r"Stopping worker %d gracefully: fewer workers "
                                    r"wanted" % oldest, after=mark)
                assert oldest not in after
            load.wait_for_ok(30)
            assert len(server.worker_pids()) == wanted, (name, wanted, server.log())
            if (name, wanted) == ("TTOU", 1) and len(before) == 1:
                assert after == before
                assert "Stopping worker" not in server.log()[mark:]
    assert load.failed == 0, load.summary()


@pytest.mark.timeout(30)
def test_kill_9_of_a_worker_pool_whole_within_one_second(server_factory):
    server = server_factory("sv_app", workers=3)
    before = server.wait_for_workers(3)
    victim = before[0]
    with Load(server, threads=4, duration=20) as load:
        load.wait_for_ok(50)
        mark = server.log_offset()
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)

        def whole():
            m = BOOTING_RE.search(server.log()[mark:])
            kids = children(server.pid)
            if m and len(kids) == 3 and victim not in kids and int(m.group("pid")) in kids:
                return int(m.group("pid")), time.monotonic()
            return None

        new, whole_at = wait_until(whole, 5, server.log, period=0.002)
        took = whole_at - killed_at
        wait_until(lambda: any(pid == new for pid, _ in load.served_by), 10,
                   lambda: "%s %s" % (load.served_by, server.log()))
        load.wait_for_ok(100)
    assert took < 1.0, "pool whole again %.3f s after the kill" % took
    assert new not in before
    assert set(server.worker_pids()) == set(before[1:]) | {new}
    server.wait_for_log(r"Worker %d killed by signal 9; replacing it" % victim,
                        after=mark)
    # Only requests the killed worker held can fail, and none begun afterwards.
    assert load.failed_since(whole_at) == 0, load.summary()
    assert load.failed <= load.threads, load.summary()
    assert all("status" not in cause for cause in load.errors), load.summary()
