"""Functional test of concurrency across workers: with ``--workers 2`` two
slow requests started together are served at the same time, by two different
worker processes."""
import threading
import time

import pytest

from tests.harness.clients import get_in_thread


@pytest.mark.timeout(30)
def test_two_workers_serve_concurrently(server_factory):
    server = server_factory("slow", workers=2)
    assert len(server.wait_for_workers(2)) == 2
    results, barrier = {}, threading.Barrier(2)
    started = time.monotonic()
    threads = [get_in_thread(server, "/?s=1", results, i, barrier) for i in range(2)]
    for t in threads:
        t.join(15)
    elapsed = time.monotonic() - started
    for i in range(2):
        assert not isinstance(results[i], Exception), results[i]
        assert results[i].status == 200
    pids = {results[i].json()["pid"] for i in range(2)}
    assert len(pids) == 2, f"both requests were served by one worker {pids}"
    assert pids <= set(server.worker_pids())
    assert elapsed < 1.8, f"two 1 s requests took {elapsed:.2f} s"
