"""Recycling under load: max-requests, max-worker-lifetime, max-worker-memory.

Covers: with ``--max-requests 20 --max-requests-jitter 5`` under a steady
stream of requests (new connection per request, and keep-alive), workers
are recycled with the cause in the log (``max-requests reached``), each
after 20 to 25 requests, a replacement is forked before the old worker is
stopped, the number of serving workers (booted and not told to stop,
sampled every 5 ms) never drops below the number wanted, and no request
fails. ``--max-worker-lifetime 2``: the same with the cause
``max-worker-lifetime reached``. ``--max-worker-memory``: a worker whose
RSS grows past the limit is recycled with ``max-worker-memory exceeded``.
Under fast keep-alive traffic, the arbiter acts on max-requests before a
worker has served twice its limit (the worker nudges the arbiter).
"""
import re

import pytest

from tests.harness.load import Load
from tests.harness.process import BOOTING_RE, wait_until
from tests.supervision.sv_load import ServingSampler, wait_booted

RECYCLING_RE = re.compile(r"Recycling worker (\d+): (.*)")


def _check_replacement_first(text, pid, cause):
    """Before the log says ``Stopping worker PID``, more workers were booted
    than stopped (a replacement, maybe forked for another recycled worker,
    is in place: two recycled together may share the first replacement);
    returns the position of the stop line."""
    recycled = re.search(r"Recycling worker %d: %s" % (pid, cause), text)
    assert recycled, text
    stop = re.compile(r"Stopping worker %d gracefully: %s" % (pid, cause)).search(
        text, recycled.end())
    assert stop, (pid, text)
    booted = len(BOOTING_RE.findall(text, 0, stop.start()))
    stopped = len(re.findall(r"Stopping worker \d+ gracefully", text[:stop.start()]))
    ready = int(re.search(r"Ready: (\d+) workers", text).group(1))
    assert booted - stopped > ready, (pid, text)
    return stop.start()


def _recycled(text, cause):
    return [(int(pid), why) for pid, why in RECYCLING_RE.findall(text)
            if why.startswith(cause)]


def _wait_recycled(server, cause, count, timeout):
    wait_until(lambda: len(_recycled(server.log(), cause)) >= count, timeout,
               server.log)


def _wait_stopped(server, pids, timeout=10):
    for pid in pids:
        server.wait_for_log(r"Worker %d exited" % pid, timeout=timeout)


@pytest.mark.timeout(40)
@pytest.mark.parametrize("keepalive", [False, True], ids=["new-conn", "keep-alive"])
def test_max_requests_recycles_with_no_failed_request(server_factory, keepalive):
    server = server_factory("sv_app", "--max-requests", "20",
                            "--max-requests-jitter", "5", workers=2)
    server.wait_for_workers(2)
    with ServingSampler(server) as sampler:
        with Load(server, threads=4, keepalive=keepalive, duration=30) as load:
            _wait_recycled(server, "max-requests reached", 6, 20)
        recycled = _recycled(server.log(), "max-requests reached")
        _wait_stopped(server, [pid for pid, _ in recycled])
        wait_booted(server, server.wait_for_workers(2))
    assert load.failed == 0, load.summary()
    text = server.log()
    for pid, why in recycled:
        served = int(re.search(r"\((\d+) served\)", why).group(1))
        assert served >= 20, why
        asked = re.search(r"Worker %d served (\d+) requests \(max-requests\); asking "
                          r"for a replacement" % pid, text)
        assert asked and 20 <= int(asked.group(1)) <= 25, (pid, text)
        _check_replacement_first(text, pid, r"max-requests reached \(\d+ served\)")
    assert sampler.samples > 50
    assert sampler.lowest_serving >= 2, (sampler.lowest_serving, sampler.at_lowest)
    assert sampler.lowest_children >= 2


@pytest.mark.timeout(40)
def test_max_worker_lifetime_recycles_with_no_failed_request(server_factory):
    # Workers keep being replaced until the end: bound the stop.
    server = server_factory("sv_app", "--max-worker-lifetime", "2",
                            "--graceful-timeout", "3", workers=2)
    first = server.wait_for_workers(2)
    with ServingSampler(server) as sampler:
        with Load(server, threads=4, duration=30) as load:
            _wait_recycled(server, "max-worker-lifetime reached", 3, 15)
        recycled = _recycled(server.log(), "max-worker-lifetime reached")
        _wait_stopped(server, [pid for pid, _ in recycled])
    assert load.failed == 0, load.summary()
    assert set(first) <= {pid for pid, _ in recycled}
    text = server.log()
    for pid, why in recycled:
        age = int(re.match(r"max-worker-lifetime reached \((\d+) s old\)", why).group(1))
        assert 2 <= age <= 4, why
        _check_replacement_first(text, pid, r"max-worker-lifetime reached \(\d+ s old\)")
    assert sampler.lowest_serving >= 2, (sampler.lowest_serving, sampler.at_lowest)


@pytest.mark.timeout(30)
def test_max_worker_memory_recycles_the_big_worker(server_factory):
    server = server_factory("sv_app", "--max-worker-memory", "80", workers=2)
    server.wait_for_workers(2)
    with ServingSampler(server) as sampler:
        with Load(server, threads=2, duration=20) as load:
            load.wait_for_ok(20)
            resp = server.get("/grow?mb=100")
            assert resp.status == 200
            big = int(resp.body.split()[0])
            line = server.wait_for_log(r"Recycling worker %d: max-worker-memory "
                                       r"exceeded \(RSS (\d+) MiB\)" % big, timeout=10)
            assert int(line.group(1)) > 80, line.group(0)
            server.wait_for_log(r"Worker %d exited" % big)
            wait_booted(server, server.wait_for_workers(2))
            load.wait_for_ok(20)
    assert load.failed == 0, load.summary()
    _check_replacement_first(server.log(), big, r"max-worker-memory exceeded \(RSS \d+ MiB\)")
    assert len(_recycled(server.log(), "max-worker-memory")) == 1
    assert sampler.lowest_serving >= 2, (sampler.lowest_serving, sampler.at_lowest)


@pytest.mark.timeout(40)
def test_max_requests_is_acted_on_promptly_under_fast_traffic(server_factory):
    server = server_factory("sv_app", "--max-requests", "20",
                            "--max-requests-jitter", "5", workers=2)
    server.wait_for_workers(2)
    with Load(server, threads=4, keepalive=True, interval=0, duration=30) as load:
        _wait_recycled(server, "max-requests reached", 4, 20)
    recycled = _recycled(server.log(), "max-requests reached")
    _wait_stopped(server, [pid for pid, _ in recycled])
    wait_booted(server, server.wait_for_workers(2))
    assert load.failed == 0, load.summary()
    served = [int(re.search(r"\((\d+) served\)", why).group(1)) for _, why in recycled]
    # Limit 20..25. The worker nudges the arbiter the moment it reaches it, but
    # on a loaded machine the arbiter may wait for the CPU a while (52 seen once
    # during the full suite); 100 still fails a check that waits for the
    # arbiter's next periodic wake-up, when hundreds would get through.
    assert max(served) <= 100, "served when the arbiter decided to recycle: %s" % served
