"""The queueing model of the mixed-threads scenario (benchmarks/queue_model.py):
pure, deterministic for a seed, no server."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.queue_model import simulate  # noqa: E402


def test_with_a_thread_per_client_no_request_waits():
    rate, p50, p99 = simulate(pools=((8, 4),), slow_every=10**9,
                              fast=0.001, duration=5, warmup=1)
    assert abs(p50 - 1.0) < 1e-6 and abs(p99 - 1.0) < 1e-6
    assert 3000 < rate < 4000       # 4 clients, 1.2 ms per turn each


def test_slow_requests_bound_the_rate_at_threads_over_their_share():
    rate, _, _ = simulate(pools=((4, 25), (4, 25)), duration=20)
    assert rate <= 8 / 0.2 * 20     # 40 slow requests a second on 8 threads


def test_one_queue_for_both_workers_cuts_the_fast_tail_of_per_worker_queues():
    pools = ((4, 25), (4, 25))
    _, _, per_worker = simulate(pools=pools, fast=0.0013, duration=20)
    _, _, shared = simulate(pools=pools, fast=0.0013, duration=20, shared=True)
    assert shared < 0.75 * per_worker, (shared, per_worker)
