"""/metrics scraped over HTTP from a real server, and StatsD datagrams received.

Requests of several methods and statuses are counted across workers; the
counts survive a worker's exit (max-requests recycling: counters never go
down); worker starts and exits are counted by cause; the listen backlog and
boot durations are reported; StatsD datagrams arrive on a local UDP socket.
"""
import os
import signal
import socket
import time

import pytest

from tests.harness.clients import admin_get
from tests.harness.process import wait_until

parser = pytest.importorskip("prometheus_client.parser")


def scrape(srv):
    status, text = admin_get(srv, "/metrics")
    assert status == 200
    samples = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def requests(samples, method, klass):
    return samples[("appserver_requests_total", (("method", method), ("status", klass)))]


def test_requests_are_counted_by_method_and_status(obs_server):
    srv = obs_server("--admin-bind", "127.0.0.1:0", workers=2)
    for _ in range(3):
        srv.get("/")
    srv.request("POST", "/status/404", body=b"x" * 1000)
    srv.request("HEAD", "/")
    srv.request("BREW", "/status/503")
    # a worker counts a request just after sending its response
    samples = wait_until(lambda: (lambda s: s if s[(
        "appserver_request_duration_seconds_count", ())] == 6 else None)(scrape(srv)),
        10, "six counted requests")
    assert requests(samples, "GET", "2xx") == 3
    assert requests(samples, "POST", "4xx") == 1
    assert requests(samples, "HEAD", "2xx") == 1
    assert requests(samples, "other", "5xx") == 1
    assert samples[("appserver_request_duration_seconds_count", ())] == 6
    assert samples[("appserver_request_duration_seconds_bucket", (("le", "+Inf"),))] == 6
    assert samples[("appserver_received_bytes_total", ())] > 1000
    assert samples[("appserver_sent_bytes_total", ())] > 6 * 30
    assert samples[("appserver_workers", (("state", "idle"),))] == 2
    assert samples[("appserver_worker_starts_total", ())] == 2
    assert samples[("appserver_worker_boot_seconds_count", ())] == 2
    [backlog] = [v for (n, labels), v in samples.items() if n == "appserver_listen_backlog_max"]
    assert backlog == 2048


def test_counters_never_go_down_when_workers_are_recycled(obs_server):
    srv = obs_server("--admin-bind", "127.0.0.1:0", "--max-requests", "3")
    sent, last, recycled = 0, 0, 0
    deadline = time.monotonic() + 30
    while recycled < 2 and time.monotonic() < deadline:
        srv.get("/")
        sent += 1
        samples = scrape(srv)
        total = requests(samples, "GET", "2xx")
        assert last <= total <= sent
        last = total
        recycled = samples[("appserver_worker_exits_total", (("cause", "max-requests"),))]
        time.sleep(0.1)
    assert recycled >= 2, srv.log()
    wait_until(lambda: requests(scrape(srv), "GET", "2xx") == sent, 10, "every request")
    samples = scrape(srv)
    assert samples[("appserver_worker_starts_total", ())] >= 3


def test_exits_by_cause(obs_server):
    srv = obs_server("--admin-bind", "127.0.0.1:0", "--timeout", "1", workers=2)

    def exits():
        return {dict(labels)["cause"]: v for (n, labels), v in scrape(srv).items()
                if n == "appserver_worker_exits_total"}

    def wait_exit(cause, count=1):
        wait_until(lambda: exits()[cause] == count, 15, "%s exits: %d" % (cause, count))

    def wait_idle(count):
        wait_until(lambda: scrape(srv)[("appserver_workers", (("state", "idle"),))]
                   == count, 15, "%d idle workers" % count)

    assert srv.get("/sleep?s=30", timeout=20).status == 504
    wait_exit("timeout")
    wait_idle(2)
    srv.signal(signal.SIGTTOU)
    wait_exit("scale-down")
    wait_idle(1)
    [victim] = srv.wait_for_workers(1, timeout=15)
    os.kill(victim, signal.SIGKILL)
    wait_exit("crash")
    srv.wait_for_workers(1, exclude=[victim], timeout=15)
    wait_idle(1)
    srv.signal(signal.SIGHUP)
    wait_exit("reload")
    assert (exits()["timeout"], exits()["scale-down"], exits()["crash"],
            exits()["shutdown"]) == (1, 1, 1, 0)


def test_statsd_datagrams(obs_server):
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    port = sink.getsockname()[1]
    srv = obs_server("--statsd-host", "127.0.0.1:%d" % port, "--statsd-prefix", "web")
    srv.get("/")
    srv.get("/status/500")
    received = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        received += sink.recv(65536).decode().split("\n")
        counts = {}
        for line in received:
            name, _, rest = line.partition(":")
            if rest.endswith("|c"):
                counts[name] = counts.get(name, 0) + int(rest[:-2])
        if counts.get("web.requests.GET.2xx") == 1 and counts.get("web.requests.GET.5xx"):
            break
    else:
        raise AssertionError("no matching StatsD counters in %r" % received)
    assert "web.workers.wanted:1|g" in received
    assert counts["web.worker_starts"] == 1
    sink.close()
