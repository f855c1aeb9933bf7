"""Scale-out: two appserver hosts behind nginx as the load balancer, one killed
mid-load, and not one idempotent request fails.

Three network namespaces of our own, joined by veth pairs on 198.18.0.0/15
(the benchmarking range) and with no default route, so no packet can leave
them: ``lb`` runs nginx from examples/nginx/appserver.conf with both hosts as
its TCP upstream; hosts ``a`` and ``b`` each run appserver (``ip netns exec``),
trusting only the balancer's address. The test client talks to ``lb`` over a
veth from the test's namespace. Client threads send a bounded number of GETs;
after a quarter of them, host A's processes are killed (SIGKILL, requests in
flight) and its link goes down. nginx retries on host B (proxy_next_upstream).
Namespaces, links and processes are removed in finalisers. Needs root and a
kernel that allows ``ip netns add``.
"""
import json
import os
import signal
import subprocess
import threading
import uuid

import pytest

from tests.harness.process import APPSERVER, Proc, READY_RE, wait_until
from tests.harness.procfs import descendants, state

from .conftest import proxy_env, request
from .nginx import NEEDS_NGINX, Nginx

pytestmark = [pytest.mark.timeout(120), NEEDS_NGINX]

REQUESTS = 400          # in all, over CLIENTS threads
CLIENTS = 4
KILL_AFTER = REQUESTS // 4


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                          check=check, timeout=15)


def netns_unavailable():
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = "as-probe-%s" % uuid.uuid4().hex[:8]
    try:
        result = ip("netns", "add", name, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "ip netns add failed: %s" % exc
    if result.returncode != 0:
        return "ip netns add failed: %s" % result.stderr.strip()
    ip("netns", "del", name, check=False)
    return None


class Net:
    """Namespaces ``lb``, ``a`` and ``b``; links root-lb, lb-a, lb-b."""

    def __init__(self):
        tag = uuid.uuid4().hex[:4]
        self.ns = {n: "as-%s-%s" % (tag, n) for n in ("lb", "a", "b")}
        self.root_link = "as%sr" % tag                 # in our namespace
        self.lb_addr, self.host_addr = "198.18.0.2", {"a": "198.18.1.2", "b": "198.18.2.2"}
        self.lb_side = {"a": "198.18.1.1", "b": "198.18.2.1"}
        self.created = []

    def create(self):
        for name in self.ns.values():
            ip("netns", "add", name)
            self.created.append(name)
            ip("-n", name, "link", "set", "lo", "up")
        self._link(None, self.root_link, "198.18.0.1", self.ns["lb"], "up0", self.lb_addr)
        for host in ("a", "b"):
            self._link(self.ns["lb"], "to-" + host, self.lb_side[host], self.ns[host],
                       "eth0", self.host_addr[host])

    def _link(self, ns1, dev1, addr1, ns2, dev2, addr2):
        on1 = ["-n", ns1] if ns1 else []
        ip(*on1, "link", "add", dev1, "type", "veth", "peer", "name", dev2, "netns", ns2)
        ip(*on1, "addr", "add", addr1 + "/30", "dev", dev1)
        ip(*on1, "link", "set", dev1, "up")
        ip("-n", ns2, "addr", "add", addr2 + "/30", "dev", dev2)
        ip("-n", ns2, "link", "set", dev2, "up")

    def link_down(self, host):
        ip("-n", self.ns["lb"], "link", "set", "to-" + host, "down")

    def destroy(self):
        ip("link", "del", self.root_link, check=False)
        for name in self.created:
            ip("netns", "del", name, check=False)


class Host:
    """appserver running in one host namespace."""

    def __init__(self, net, label):
        self.net, self.label = net, label
        argv = ["ip", "netns", "exec", net.ns[label]] + APPSERVER + [
            "proxyapp", "--bind", net.host_addr[label] + ":8000", "--workers", "2",
            "--forwarded-allow-ips", net.lb_side[label], "--env", "TEST_HOST=" + label]
        self.proc = Proc(argv, env=proxy_env())

    def start(self):
        self.proc.start()
        self.proc.wait_for_log(READY_RE)
        return self

    def kill(self):
        """The host dies: all its processes at once (the kernel resets their
        connections), then its link goes down (new connections fail)."""
        pids = [self.proc.pid] + descendants(self.proc.pid)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: all(state(pid) in (None, "Z") for pid in pids), 10,
                   "host processes to die")
        self.net.link_down(self.label)


@pytest.fixture
def net():
    why = netns_unavailable()
    if why:
        pytest.skip(why)
    net = Net()
    try:
        net.create()
        yield net
    finally:
        net.destroy()


@pytest.fixture
def cluster(net, certs):
    """``(host a, host b, nginx)``, all stopped by pid afterwards."""
    hosts = [Host(net, "a"), Host(net, "b")]
    servers = ["server %s:8000 max_fails=1 fail_timeout=30s;" % net.host_addr[h]
               for h in ("a", "b")]
    nginx = Nginx(certs, servers, "/nonexistent.sock", host=net.lb_addr,
                  netns=net.ns["lb"])
    try:
        yield [h.start() for h in hosts] + [nginx.start()]
    finally:
        nginx.stop()
        for host in hosts:
            host.proc.stop()


def test_nginx_retries_on_the_other_host_when_one_dies(cluster):
    a, b, nginx = cluster
    results, failures, lock = [], [], threading.Lock()
    killed = threading.Event()

    def one(conn):
        """``(status, host or body, after the kill)``, or a new connection on error."""
        after = killed.is_set()
        try:
            response, body = request(conn, "GET", "/?ms=5")
        except Exception as exc:                # noqa: BLE001 - every failure counts
            return None, repr(exc)
        return (response.status, json.loads(body)["host"] if response.status == 200
                else body[:200], after), None

    def client():
        conn = nginx.connection(timeout=20)
        while True:
            with lock:
                if len(results) + len(failures) >= REQUESTS:
                    return
            outcome, error = one(conn)
            with lock:
                if outcome is not None and outcome[0] == 200:
                    results.append(outcome)
                else:
                    failures.append(outcome or error)
                    conn = nginx.connection(timeout=20)
                if len(results) == KILL_AFTER and not killed.is_set():
                    a.kill()
                    killed.set()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not any(t.is_alive() for t in threads), "the load did not finish in time"
    assert failures == [], failures[:5]
    assert killed.is_set() and REQUESTS <= len(results) < REQUESTS + CLIENTS
    before = {r[1] for r in results if not r[2]}
    after = [r[1] for r in results if r[2]]
    assert before == {"a", "b"}, "both hosts served before the kill"
    assert len(after) >= REQUESTS - KILL_AFTER - CLIENTS and set(after) == {"b"}
    log = nginx.error_log()
    assert "while reading response header from upstream" in log or \
        "while connecting to upstream" in log, "nginx saw no failure to retry"
