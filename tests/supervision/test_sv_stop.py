"""Graceful stops: TERM serves what is in flight and queued; WINCH.

Covers: TERM while 10 workers each run a 2 s request and 20 more
connections with complete requests wait in the listen backlog: all 30 get
200, then the arbiter exits 0 and no worker is left. TERM with a single
busy worker and 40 queued connections (more than one accept batch): all
must be served, not only the first accept batches. A request sent on an idle
keep-alive connection while its worker is busy, after the worker was told
to stop (TERM, or HUP replacing it), is answered (with Connection: close),
not reset; so are requests passed on to the shared socket during the call
that TERM interrupted. WINCH (the arbiter has no terminal here) stops every
worker and keeps the arbiter, which spawns none until TTIN brings one back;
after another WINCH, HUP brings back the configured number.
A TERM sent while a worker forked by TTIN is still running the at-fork
hooks of a preloaded app stops it gracefully too, instead of it being
killed at graceful-timeout.
"""
import json
import signal
import threading
import time

import pytest

from tests.harness.clients import admin_get, read_response
from tests.harness.load import Load
from tests.harness.process import wait_until
from tests.harness.procfs import accept_queue, children
from tests.supervision.sv_load import wait_booted

REQUEST = b"GET / HTTP/1.1\r\nHost: sv\r\nConnection: close\r\n\r\n"


def _slow_requests(server, count, seconds):
    """Start ``count`` slow requests one after the other, each once the
    previous one is running in the app, so each holds its own worker.
    Returns (threads, results)."""
    results, threads = {}, []
    for i in range(count):
        def run(i=i):
            try:
                results[i] = server.get("/sleep?s=%s" % seconds, timeout=30)
            except Exception as exc:  # reported by the test
                results[i] = exc
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        server.wait_for_records("sv_slow.log", i + 1)
    return threads, results


def _queue(server, count):
    """Open ``count`` connections and send a complete request on each."""
    socks = []
    for _ in range(count):
        sock = server.connect(timeout=30)
        sock.sendall(REQUEST)
        socks.append(sock)
    return socks


def _answers(socks):
    """Status of the response on each socket, or the exception."""
    out = []
    for sock in socks:
        try:
            with sock, sock.makefile("rb") as f:
                out.append(read_response(f).status)
        except Exception as exc:
            out.append(type(exc).__name__)
    return out


@pytest.mark.timeout(40)
def test_term_completes_in_flight_and_backlog_then_exits_0(server_factory):
    server = server_factory("sv_app", "--graceful-timeout", "20", workers=10)
    workers = server.wait_for_workers(10)
    threads, results = _slow_requests(server, 10, 2)
    starts = server.records("sv_slow.log")
    assert len({line.split()[1] for line in starts}) == 10, starts
    socks = _queue(server, 20)      # every worker is busy: these wait in the backlog
    wait_until(lambda: accept_queue(server.port) == 20, 10,
               lambda: "20 connections in the backlog, have %d" % accept_queue(server.port))
    assert not any(r for r in results.values()), results
    sent_term = time.monotonic()
    server.signal(signal.SIGTERM)
    queued = _answers(socks)
    for thread in threads:
        thread.join(20)
    slow = [results[i].status if hasattr(results[i], "status") else repr(results[i])
            for i in range(10)]
    assert slow == [200] * 10, (slow, server.log())
    assert queued == [200] * 20, (queued, server.log())
    assert server.wait_exit(20) == 0, server.log()
    assert time.monotonic() - sent_term < 10
    assert len(server.records("sv_slow.log")) == 20     # 10 starts, 10 ends
    assert server.leftover_pids() == [], workers
    server.assert_log_clean()


@pytest.mark.timeout(30)
def test_term_serves_a_backlog_longer_than_one_accept_batch(server_factory):
    server = server_factory("sv_app", "--graceful-timeout", "20", workers=1)
    threads, results = _slow_requests(server, 1, 1)
    socks = _queue(server, 40)
    server.signal(signal.SIGTERM)
    queued = _answers(socks)
    threads[0].join(20)
    assert results[0].status == 200
    assert server.wait_exit(20) == 0, server.log()
    assert queued == [200] * 40, "%d of 40 answered: %s" % (queued.count(200), queued)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("how", ["TERM", "HUP"])
def test_request_already_sent_on_keepalive_is_answered_by_stopping_worker(
        server_factory, how):
    server = server_factory("sv_app", "--graceful-timeout", "20", "--admin-bind",
                            "127.0.0.1:0", workers=1)
    (old,) = server.wait_for_workers(1)
    client = server.connect(timeout=15)
    rfile = client.makefile("rb")
    client.sendall(b"GET / HTTP/1.1\r\nHost: sv\r\n\r\n")
    first = read_response(rfile)
    assert first.status == 200 and first.header("connection") != "close"
    # Keep the worker busy in the app, then tell it to stop.
    threads, results = _slow_requests(server, 1, 1)
    mark = server.log_offset()
    server.signal(getattr(signal, "SIG" + how))
    if how == "TERM":
        server.wait_for_log(r"Received TERM", after=mark)
        # The arbiter logs this line, then signals its workers, then waits for
        # them, serving the admin listener: its answer comes after the TERM.
        admin_get(server, "/status")
    else:
        # Logged once the arbiter has sent the worker its TERM.
        server.wait_for_log(r"Stopping worker %d gracefully: reload" % old, after=mark)
    client.sendall(b"GET / HTTP/1.1\r\nHost: sv\r\n\r\n")
    try:
        second = read_response(rfile).status
    except Exception as exc:
        second = type(exc).__name__
    finally:
        client.close()
    threads[0].join(15)
    assert results[0].status == 200
    assert second == 200, "request sent 0.1 s after %s, before the worker " \
        "finished its busy request, got %s" % (how, second)


@pytest.mark.timeout(30)
def test_requests_passed_on_during_the_call_term_interrupted_are_served(
        server_factory):
    """Requests that arrive on a busy worker's keep-alive connections are
    passed on to the shared socket; when TERM came during that call, the
    worker takes them back before it stops taking from the socket, and
    serves them all (taking too few, or stopping first, left them there,
    closed unanswered when the worker exited)."""
    server = server_factory("sv_app", "--graceful-timeout", "20", workers=1)
    server.wait_for_workers(1)
    clients = [server.connect(timeout=15) for _ in range(3)]
    rfiles = [c.makefile("rb") for c in clients]
    for client, rfile in zip(clients, rfiles):
        client.sendall(b"GET / HTTP/1.1\r\nHost: sv\r\n\r\n")
        assert read_response(rfile).status == 200
    threads, results = _slow_requests(server, 1, 1)
    mark = server.log_offset()
    server.signal(signal.SIGTERM)
    server.wait_for_log(r"Received TERM", after=mark)
    slow = b"GET /sleep?s=0.5 HTTP/1.1\r\nHost: sv\r\n\r\n"
    for client in clients:              # passed on while the sleep runs
        client.sendall(slow)
    answers = []
    for client, rfile in zip(clients, rfiles):
        try:
            answers.append(read_response(rfile).status)
        except Exception as exc:
            answers.append(type(exc).__name__)
        client.close()
    threads[0].join(15)
    assert results[0].status == 200
    assert answers == [200, 200, 200]


@pytest.mark.timeout(30)
def test_winch_stops_all_workers_and_keeps_the_arbiter(server_factory):
    server = server_factory("sv_app", "--admin-bind", "127.0.0.1:0", workers=3)
    original = server.wait_for_workers(3)
    with Load(server, threads=2, duration=20) as load:
        load.wait_for_ok(30)
    assert load.failed == 0, load.summary()
    mark = server.log_offset()
    server.signal(signal.SIGWINCH)
    server.wait_for_log(r"Received WINCH: stopping all workers, keeping the arbiter",
                        after=mark)
    for pid in original:
        server.wait_for_log(r"Worker %d exited with code 0" % pid, after=mark)
    server.wait_for_workers(0)
    # The arbiter stays, wanting no worker, across turns of its loop: it
    # answers each admin request itself, in a turn of that loop.
    for _ in range(5):
        status, text = admin_get(server, "/status")
        assert status == 200 and json.loads(text)["workers_wanted"] == 0, text
        assert children(server.pid) == [], server.log()[mark:]
    server.signal(signal.SIGTTIN)
    server.wait_for_log(r"Received TTIN: 1 workers? wanted", after=mark)
    (back,) = server.wait_for_workers(1)
    assert back not in original
    resp = wait_until(lambda: _get_or_none(server), 10, server.log)
    assert resp.status == 200 and int(resp.body.split()[0]) == back
    # After another WINCH, HUP brings back the configured number.
    server.signal(signal.SIGWINCH)
    server.wait_for_workers(0)
    server.signal(signal.SIGHUP)
    wait_booted(server, server.wait_for_workers(3))
    assert server.get("/").status == 200
    assert server.stop() == 0, server.log()


def _get_or_none(server):
    try:
        return server.get("/", timeout=5)
    except OSError:
        return None


@pytest.mark.timeout(30)
def test_term_while_a_new_worker_runs_at_fork_hooks_stops_it_gracefully(
        server_factory):
    server = server_factory("sv_slow_fork", "--preload", "--graceful-timeout", "2",
                            workers=1)
    before = set(server.wait_for_workers(1))
    server.signal(signal.SIGTTIN)
    wait_until(lambda: set(children(server.pid)) - before, 5, server.log,
               period=0.001)
    server.signal(signal.SIGTERM)       # the new worker is in its 0.3 s hook
    started = time.monotonic()
    assert server.wait_exit(15) == 0, server.log()
    took = time.monotonic() - started
    assert "did not stop in time" not in server.log(), server.log()
    assert took < 1.5, took
