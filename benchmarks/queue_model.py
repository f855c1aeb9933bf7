"""A queueing model of the ``mixed-threads`` scenario (no server, no sockets).

Contract: ``simulate(...)`` plays the load client's closed loop against
thread pools and returns ``(req/s, fast p50 ms, fast p99 ms)``. Each
connection has one request outstanding and sends the next one
``turnaround`` s after its answer; every ``slow_every``-th request issued
(over all connections) holds a thread ``slow`` s, the others ``fast`` s.
``pools`` is ``((threads, connections), ...)``: a worker's threads and the
connections it holds. A request that finds every thread of its pool busy
queues in that pool (``shared=False``, a worker per pool) or in one queue
for all pools (``shared=True``, every waiting request goes to whichever
thread frees first); the queue is served oldest first. Fast latencies are counted after
``warmup`` s. Deterministic for a given ``seed``.

``python -m benchmarks.queue_model`` prints the table docs/benchmarks.md
quotes: what the fast requests' p99 is when the server runs the same load
with an ideal oldest-first order, for a few fast-request service times.
"""

import collections
import heapq
import random


def simulate(pools=((8, 50),), fast=0.0003, slow=0.2, slow_every=20,
             duration=60.0, warmup=5.0, turnaround=0.0002, shared=False, seed=1):
    """See the module comment."""
    rng = random.Random(seed)
    free = [threads for threads, _ in pools]
    queues = [collections.deque() for _ in pools] if not shared else None
    common = collections.deque()
    events, latencies, issued = [], [], [0]

    def queue_of(pool):
        return common if shared else queues[pool]

    def start(now, pool, sent, is_slow):
        heapq.heappush(events, (now + (slow if is_slow else fast), pool, sent, is_slow))

    def issue(now, pool):
        issued[0] += 1
        is_slow = issued[0] % slow_every == 0
        target = pool
        if shared:
            target = next((p for p in range(len(pools)) if free[p]), pool)
        if free[target]:
            free[target] -= 1
            start(now, target, now, is_slow)
        else:
            queue_of(pool).append((now, is_slow))

    for pool, (_, held) in enumerate(pools):
        for _ in range(held):
            issue(rng.random() * 0.01, pool)
    while events:
        now, pool, sent, is_slow = heapq.heappop(events)
        if now > duration:
            break
        if not is_slow and now > warmup:
            latencies.append(now - sent)
        waiting = queue_of(pool)
        if waiting:
            start(now, pool, *waiting.popleft())
        else:
            free[pool] += 1
        issue(now + turnaround, pool)
    latencies.sort()
    count = len(latencies)
    rate = count / (duration - warmup) * slow_every / (slow_every - 1)
    return rate, latencies[count // 2] * 1000, latencies[int(count * 0.99)] * 1000


def main():
    print("fast ms  order            req/s  fast p50 ms  fast p99 ms")
    for fast in (0.0003, 0.0006, 0.001, 0.0013):
        for name, kw in (("per worker 2x4", {"pools": ((4, 25), (4, 25))}),
                         ("one queue, 8", {"pools": ((4, 25), (4, 25)), "shared": True})):
            rate, p50, p99 = simulate(fast=fast, **kw)
            print("%7.1f  %-15s %6.0f  %11.1f  %11.1f" % (fast * 1000, name, rate, p50, p99))


if __name__ == "__main__":
    main()
