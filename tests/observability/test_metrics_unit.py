"""Unit tests for the metric cells, the Prometheus rendering, exit causes and StatsD.

Counters written through a real scoreboard slot read back (also from a forked
child); a rendered view parses with prometheus_client's own parser, histogram
buckets are cumulative; ``exit_cause`` names each way a worker ends; StatsD
sends deltas and gauges in bounded datagrams; the listen backlog is read from
a real listening socket.
"""
import os
import socket
import time

import pytest

from appserver.observe import metrics, scoreboard, statsd
from appserver.arbiter.monitor import View, exit_cause, listen_backlog
from appserver.arbiter.pool import Exit
from appserver.observe.scoreboard import Scoreboard
from appserver.net.sockets import Listener

parser = pytest.importorskip("prometheus_client.parser")


def slot_stats():
    board = Scoreboard(slots=2)
    board.claim(1, 99, time.monotonic())
    return board, board.counters(1)


def test_counters_land_in_their_cells():
    board, counters = slot_stats()
    counters.record("GET", 200, 0.003, 100, 1000)
    counters.record("GET", 204, 0.02, 50, 10)
    counters.record("BREW", 418, 99.0, 1, 2)
    counters.booted(0.7)
    stats = board.stats(1)
    assert stats[metrics.cell("GET", 200)] == 2
    assert stats[metrics.cell("other", 400)] == 1
    hist = stats[metrics.HISTOGRAM:metrics.BYTES_IN]
    assert hist == [1, 0, 1] + [0] * 9 + [1]
    assert (stats[metrics.BYTES_IN], stats[metrics.BYTES_OUT]) == (151, 1012)
    assert stats[metrics.DURATION_SUM] == pytest.approx(99.023)
    assert stats[metrics.BOOT_SECONDS] == pytest.approx(0.7)
    assert board.stats(0) == metrics.zero()      # the neighbour is untouched
    assert board.read(1).pid == 99               # and so is the slot's head


def test_claim_clears_the_previous_workers_counters():
    board, counters = slot_stats()
    counters.record("POST", 500, 1.0, 1, 1)
    board.claim(1, 100, time.monotonic())
    assert board.stats(1) == metrics.zero()


def test_a_forked_workers_counts_are_seen_by_the_parent():
    board, _ = slot_stats()
    pid = os.fork()
    if pid == 0:
        board.slot(1).counters().record("PUT", 201, 0.1, 5, 6)
        os._exit(0)
    os.waitpid(pid, 0)
    assert board.stats(1)[metrics.cell("PUT", 201)] == 1


@pytest.mark.parametrize("status, klass", [(100, 0), (200, 1), (399, 2), (404, 3),
                                           (599, 4), (0, 0), (700, 4)])
def test_status_classes(status, klass):
    assert metrics.cell("GET", status) == klass


def view(**kw):
    stats = metrics.zero()
    metrics.count(stats, "GET", 200, 0.004)
    metrics.count(stats, "GET", 200, 0.3)
    metrics.count(stats, "DELETE", 503, 12.0)
    values = dict(stats=stats, states={"booting": 0, "idle": 1, "busy": 1, "draining": 0},
                  wanted=2, rss=[(1, 1000), (2, 2000)],
                  backlog={"http://127.0.0.1:8000": (3, 128)}, starts=4,
                  exits={"timeout": 1, "crash": 1}, boot_counts=[0, 1, 0] + [0] * 7,
                  boot_sum=0.2)
    values.update(kw)
    return View(**values)


def families(text):
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def test_render_parses_with_prometheus_client():
    found = families(metrics.render(view()))
    requests = {(s.labels["method"], s.labels["status"]): s.value
                for s in found["appserver_requests"].samples}
    assert requests[("GET", "2xx")] == 2 and requests[("DELETE", "5xx")] == 1
    assert sum(requests.values()) == 3 and len(requests) == 40
    hist = {s.labels.get("le"): s.value for s in found["appserver_request_duration_seconds"]
            .samples if s.name.endswith("_bucket")}
    assert (hist["0.005"], hist["0.25"], hist["0.5"], hist["10.0"], hist["+Inf"]) == (
        1, 1, 2, 2, 3)
    exits = {s.labels["cause"]: s.value for s in found["appserver_worker_exits"].samples}
    assert exits["timeout"] == 1 and exits["crash"] == 1 and exits["memory"] == 0
    assert set(exits) == set(metrics.EXIT_CAUSES)
    workers = {s.labels["state"]: s.value for s in found["appserver_workers"].samples}
    assert workers["busy"] == 1 and workers["idle"] == 1
    [backlog] = found["appserver_listen_backlog"].samples
    assert backlog.value == 3 and backlog.labels["listener"] == "http://127.0.0.1:8000"
    assert found["appserver_worker_boot_seconds"].type == "histogram"


class Info:
    def __init__(self, state=scoreboard.IDLE):
        self.state = state


@pytest.mark.parametrize("kw, cause", [
    (dict(timed_out=True), "timeout"),
    (dict(retiring="request timeout: a request ran past timeout"), "timeout"),
    (dict(retiring="max-requests reached (10 served)"), "max-requests"),
    (dict(retiring="max-worker-lifetime reached (60 s old)"), "lifetime"),
    (dict(retiring="max-worker-memory exceeded (RSS 300 MiB)"), "memory"),
    (dict(retiring="reload"), "reload"),
    (dict(stopping_all=True), "shutdown"),
    (dict(stopping=True), "scale-down"),
    (dict(info=Info(scoreboard.BOOTING)), "boot-failure"),
    (dict(code=4), "boot-failure"),
    (dict(code=-9), "crash"),
])
def test_exit_causes(kw, cause):
    args = dict(pid=7, code=1, worker=None, info=Info(), stats=None, retiring=None,
                stopping=False, timed_out=False)
    args.update(kw)
    stopping_all = args.pop("stopping_all", False)
    assert exit_cause(Exit(**args), stopping_all) == cause
    assert cause in metrics.EXIT_CAUSES


def test_statsd_sends_counter_deltas_and_gauges():
    previous = {}
    first = statsd.lines(view(), previous, "app")
    assert "app.requests.GET.2xx:2|c" in first
    assert "app.worker_exits.timeout:1|c" in first
    assert "app.workers.busy:1|g" in first and "app.listen_backlog:3|g" in first
    assert "app.memory_rss_bytes:3000|g" in first
    assert not any(":0|c" in line for line in first)
    stats = view().stats
    metrics.count(stats, "GET", 200, 0.001)
    second = statsd.lines(view(stats=stats), previous, "app")
    counters = [line for line in second if line.endswith("|c")]
    assert "app.requests.GET.2xx:1|c" in counters
    assert "app.request_duration.count:1|c" in counters
    assert "app.worker_exits.timeout:1|c" not in second


def test_statsd_datagrams_are_bounded():
    payloads = list(statsd.datagrams(["x.%03d:1|c" % i for i in range(500)], limit=100))
    assert all(len(p) <= 100 for p in payloads)
    assert b"\n".join(payloads).split(b"\n") == [b"x.%03d:1|c" % i for i in range(500)]


def test_listen_backlog_of_a_real_socket():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(17)
    clients = [socket.create_connection(sock.getsockname()) for _ in range(3)]
    try:
        listener = Listener(sock, "tcp", sock.getsockname())
        assert listen_backlog(listener) == (3, 17)
        assert listen_backlog(Listener(sock, "unix", "/x")) is None
    finally:
        for client in clients:
            client.close()
        sock.close()


def test_threads_are_counted_in_requests_on_the_page_and_in_statsd():
    from appserver.observe import statsd
    found = families(metrics.render(view(threads={"busy": 3, "idle": 5})))
    threads = {s.labels["state"]: s.value for s in found["appserver_threads"].samples}
    assert threads == {"busy": 3, "idle": 5}
    gauges = statsd.gauges(view(threads={"busy": 3, "idle": 5}))
    assert gauges["threads.busy"] == 3 and gauges["threads.idle"] == 5
    assert "appserver_threads" not in families(metrics.render(view()))
