"""``--threads N``: a worker runs up to N requests at once, over real processes.

N slow requests on one worker all start before any ends (the app's
``slow.log`` records, not timings); request N+1 on a single worker starts
only once one has ended, and with two workers of N threads 2N slow requests
run at once, N per worker (a full worker takes no more: the rest go to the
other). ``wsgi.multithread`` is true with N > 1 and false with 1, unless the
worker class is gthread (Gunicorn's, which runs a pool even of one thread). A request
past ``timeout`` is answered 504 with its thread's stack in the log, while
the other requests of its worker are answered 200, and the worker is
replaced. Under a keep-alive load with ``--threads 4``: max-requests
recycling, HUP reloads and TERM fail no request (each worker served exactly
its max-requests).
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading

import pytest

from tests.harness.load import Mixed
from tests.harness.process import REPO_ROOT, wait_until
from tests.supervision.sv_load import wait_booted, wait_exited
from tests.supervision.test_sv_stop import _answers, _queue


def _get_all(server, paths, timeout=30):
    """GET each path on its own connection, all at once; the responses
    (or the exceptions) in order, once every one is done."""
    results = [None] * len(paths)

    def run(i, path):
        try:
            results[i] = server.get(path, timeout=timeout)
        except Exception as exc:    # reported by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, p), daemon=True)
               for i, p in enumerate(paths)]
    for thread in threads:
        thread.start()
    return threads, results


def _join(threads, results):
    for thread in threads:
        thread.join(40)
    for result in results:
        assert not isinstance(result, Exception), result
    return results


def _order(server):
    """``slow.log`` as a list of ("start" | "end", pid)."""
    return [(kind, int(pid)) for kind, pid in
            (line.split() for line in server.records("slow.log"))]


@pytest.mark.timeout(40)
def test_n_slow_requests_on_one_worker_run_at_once(server_factory):
    server = server_factory("slow", "--threads", "4", workers=1)
    results = _join(*_get_all(server, ["/?s=1"] * 4))
    assert [r.status for r in results] == [200] * 4
    order = _order(server)
    assert [kind for kind, _ in order] == ["start"] * 4 + ["end"] * 4, order
    assert len({pid for _, pid in order}) == 1


@pytest.mark.timeout(40)
def test_request_n_plus_1_waits_for_a_thread_of_a_single_worker(server_factory):
    server = server_factory("slow", "--threads", "2", workers=1)
    threads, results = _get_all(server, ["/?s=1"] * 2)
    server.wait_for_records("slow.log", 2)          # both threads are busy
    third = _get_all(server, ["/?s=0"])
    _join(*third)
    _join(threads, results)
    kinds = [kind for kind, _ in _order(server)]
    assert kinds[:3] == ["start", "start", "end"], kinds   # it waited for a thread
    assert third[1][0].status == 200


@pytest.mark.timeout(40)
def test_a_full_worker_leaves_request_n_plus_1_to_another(server_factory):
    server = server_factory("slow", "--threads", "2", workers=2)
    server.wait_for_workers(2)
    results = _join(*_get_all(server, ["/?s=1.5"] * 4))
    assert [r.status for r in results] == [200] * 4
    order = _order(server)
    assert [kind for kind, _ in order[:4]] == ["start"] * 4, order
    pids = [r.json()["pid"] for r in results]
    assert sorted(pids.count(pid) for pid in set(pids)) == [2, 2], pids


def test_wsgi_multithread_says_whether_threads_run(server_factory):
    for args, expected in ((["--threads", "3"], "True"), (["--threads", "1"], "False"),
                           (["-k", "gthread", "--threads", "1"], "True")):
        server = server_factory("environ_dump", *args)
        environ = server.get("/").json()
        assert environ["wsgi.multithread"] == {"type": "bool", "value": expected}
        server.stop()


@pytest.mark.timeout(60)
def test_a_timed_out_request_leaves_its_workers_other_requests_answered(
        server_factory):
    server = server_factory("slow", "--threads", "4", "--timeout", "2",
                            "--access-logfile", "-", workers=1)
    [worker] = server.wait_for_workers(1)
    threads, results = _get_all(server, ["/?s=30"] + ["/?s=1"] * 3)
    _join(threads, results)
    assert [r.status for r in results] == [504, 200, 200, 200]
    assert {r.json()["pid"] for r in results[1:]} == {worker}
    log = server.log()
    assert re.search(r"WORKER TIMEOUT \(pid:%d\) Request GET /\?s=30 HTTP/1.1 ran "
                     r"past timeout \(2 s\) on thread \d/4; stack:\n" % worker, log), log
    assert re.search(r'File ".*slow.py", line \d+, in _app\n\s+time.sleep', log), log
    server.wait_for_log(r"Worker %d exited" % worker)
    [new] = server.wait_for_workers(1, exclude=[worker])
    assert server.get("/?s=0").json()["pid"] == new
    assert '"GET /?s=30 HTTP/1.1" 504 ' in server.stdout()
    wait_until(lambda: server.stdout().count('" 200 ') == 4, 10, server.stdout)


def test_threads_from_a_gunicorn_config_file(server_factory, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text(
        "worker_class = 'gthread'\nthreads = 3\n")
    server = server_factory("slow", "-c", str(tmp_path / "gunicorn.conf.py"))
    results = _join(*_get_all(server, ["/?s=1"] * 3))
    assert [r.status for r in results] == [200] * 3
    assert [kind for kind, _ in _order(server)][:3] == ["start"] * 3


@pytest.mark.timeout(60)
def test_threads_raised_on_hup_run_in_the_new_workers(server_factory, tmp_path):
    conf = tmp_path / "appserver.conf.py"
    conf.write_text("threads = 1\n")
    server = server_factory("slow", "-c", str(conf), workers=1)
    [old] = server.wait_for_workers(1)
    conf.write_text("threads = 3\n")
    server.signal(signal.SIGHUP)
    server.wait_for_log(r"Worker %d exited" % old, timeout=20)
    [new] = server.wait_for_workers(1, exclude=[old])
    results = _join(*_get_all(server, ["/?s=1"] * 3))
    assert {r.json()["pid"] for r in results} == {new}
    assert [kind for kind, _ in _order(server)][:3] == ["start"] * 3
    assert "takes effect on a restart" not in server.log()


# -- recycling, reloads and stops under a keep-alive load ---------------------------

@pytest.mark.timeout(120)
def test_max_requests_recycles_with_threads_lose_nothing(server_factory):
    server = server_factory("sv_app", "--threads", "4", "--max-requests", "40",
                            workers=2)
    server.wait_for_workers(2)
    recycled = re.compile(r"Worker (\d+) served (\d+) requests \(max-requests\)")
    with Mixed(server, duration=100) as load:
        wait_until(lambda: len(recycled.findall(server.log())) >= 12, 90,
                   lambda: "%d recycled; %s" % (len(recycled.findall(server.log())),
                                                load.keep.summary()))
    done = [(int(pid), int(n)) for pid, n in recycled.findall(server.log())]
    wait_exited(server, [pid for pid, _ in done])
    load.check()
    served = {}
    for (pid, _), count in load.served_by.items():
        served[pid] = served.get(pid, 0) + count
    for pid, n in done:
        assert n == 40 and served.get(pid, 0) == 40, (pid, n, served.get(pid))


@pytest.mark.timeout(120)
def test_hup_reloads_with_threads_lose_nothing(server_factory):
    server = server_factory("sv_app", "--threads", "4", workers=2)
    server.wait_for_workers(2)
    with Mixed(server, duration=100) as load:
        load.wait_for_ok(50)
        for _ in range(4):
            old = server.worker_pids()
            mark = server.log_offset()
            server.signal(signal.SIGHUP)
            wait_exited(server, old, after=mark)
            wait_booted(server, server.wait_for_workers(2))
            load.wait_for_ok(40)
    load.check()


def _starts(server):
    return sum(1 for line in server.records("sv_slow.log") if line.startswith("start"))


@pytest.mark.timeout(120)
def test_term_to_workers_with_threads_loses_nothing(server_factory):
    server = server_factory("sv_app", "--threads", "4", workers=2)
    server.wait_for_workers(2)
    with Mixed(server, duration=100) as load:
        load.wait_for_ok(50)
        for round_ in range(1, 4):
            old = server.worker_pids()
            slow, results = _get_all(server, ["/sleep?s=1"] * 3)
            wait_until(lambda n=3 * round_: _starts(server) >= n, 20, server.log)
            mark = server.log_offset()
            for pid in old:
                os.kill(pid, signal.SIGTERM)    # each retires: passes its connections on
            wait_exited(server, old, after=mark)
            wait_booted(server, server.wait_for_workers(2, exclude=old))
            _join(slow, results)
            assert [r.status for r in results] == [200] * 3
            load.wait_for_ok(40)
    load.check()


@pytest.mark.timeout(60)
def test_term_with_every_thread_busy_serves_in_flight_and_backlog(server_factory):
    server = server_factory("sv_app", "--threads", "4", "--graceful-timeout", "20",
                            workers=2)
    server.wait_for_workers(2)
    slow, results = _get_all(server, ["/sleep?s=2"] * 8)
    server.wait_for_records("sv_slow.log", 8)       # every thread of both is busy
    queued = _queue(server, 10)
    server.signal(signal.SIGTERM)
    assert server.wait_exit(30) == 0, server.log()
    _join(slow, results)
    assert [r.status for r in results] == [200] * 8
    assert _answers(queued) == [200] * 10


# -- status: a row per thread ---------------------------------------------------------

def _admin(server):
    return server.wait_for_log(r"Admin listener at: (\S+)").group(1)


def _status(server, *args):
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "appserver", "status", "--admin",
                           _admin(server), *args], capture_output=True, text=True,
                          timeout=30, env=env, cwd=REPO_ROOT).stdout


@pytest.mark.timeout(60)
def test_status_shows_a_row_per_thread(server_factory):
    server = server_factory("slow", "--threads", "3", "--admin-bind", "127.0.0.1:0",
                            workers=1)
    [worker] = server.wait_for_workers(1)
    threads, results = _get_all(server, ["/?s=4&token=x"] * 2)
    server.wait_for_records("slow.log", 2)
    snap = json.loads(_status(server, "--json"))
    [entry] = snap["workers"]
    rows = entry["threads"]
    assert [row["thread"] for row in rows] == [1, 2, 3]
    busy = [row for row in rows if row["state"] == "busy"]
    assert len(busy) == 2 and [r for r in rows if r["state"] == "idle"]
    assert {row["request"] for row in busy} == {"GET /?<hidden> HTTP/1.1"}
    assert all(row["request_seconds"] >= 0 for row in busy)
    assert entry["state"] == "idle"         # a thread is free: it takes requests
    table = _status(server)
    lines = [line.split() for line in table.splitlines()[2:]]
    assert [line[0] for line in lines] == ["1", "1.1", "1.2", "1.3"], table
    assert sum(1 for line in lines[1:] if line[1] == "busy") == 2, table
    metrics = server_metrics(server)
    assert 'appserver_threads{state="busy"} 2' in metrics
    assert 'appserver_threads{state="idle"} 1' in metrics
    _join(threads, results)


def server_metrics(server):
    import http.client
    host, port = _admin(server)[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


@pytest.mark.timeout(60)
def test_slow_request_logs_the_stack_of_its_own_thread(server_factory):
    server = server_factory("slow", "--threads", "2", "--slow-request", "1",
                            workers=1)
    threads, results = _get_all(server, ["/?s=3", "/?s=0.2"])
    match = server.wait_for_log(r"Slow request: worker \d+ thread (\d) has been serving "
                                r"'GET /\?s=3 HTTP/1.1'", timeout=10)
    stack = server.wait_for_log(r"stack of the slow request GET /\?s=3 HTTP/1.1 on "
                                r"thread (\d)/2 \(still running\):\n(?:.*\n){0,6}.*slow\.py",
                                timeout=10)
    assert match.group(1) == stack.group(1)
    _join(threads, results)
    assert [r.status for r in results] == [200, 200]
    assert server.log().count("stack of the slow request") == 1


@pytest.mark.timeout(60)
def test_a_request_hook_stopping_its_worker_is_carried_out_by_the_loop(
        server_factory, tmp_path):
    (tmp_path / "stop_conf.py").write_text(
        "def post_request(worker, req, environ, resp):\n"
        "    if 'stop' in req.query:\n"
        "        worker.alive = False\n")
    server = server_factory("slow", "--threads", "2", "-c", str(tmp_path / "stop_conf.py"),
                            workers=1)
    [old] = server.wait_for_workers(1)
    assert server.get("/?s=0&stop=1").status == 200
    server.wait_for_log(r"Worker %d exited with code 0" % old)
    [new] = server.wait_for_workers(1, exclude=[old])
    assert server.get("/?s=0").json()["pid"] == new


@pytest.mark.timeout(60)
def test_a_thread_stuck_after_its_response_is_not_answered_for_twice(
        server_factory, tmp_path):
    (tmp_path / "hang_conf.py").write_text(
        "import time\n"
        "def post_request(worker, req, environ, resp):\n"
        "    if 'hang' in req.query:\n"
        "        time.sleep(20)\n")
    server = server_factory("slow", "--threads", "2", "--timeout", "1",
                            "-c", str(tmp_path / "hang_conf.py"),
                            "--access-logfile", "-", workers=1)
    [old] = server.wait_for_workers(1)
    response = server.get("/?s=0&hang=1")
    assert response.status == 200 and response.json()["pid"] == old
    server.wait_for_log(r"WORKER TIMEOUT \(pid:%d\) Request GET /\?s=0&hang=1 " % old)
    [new] = server.wait_for_workers(1, exclude=[old])
    assert server.get("/?s=0").json()["pid"] == new
    wait_until(lambda: server.stdout().count('" 200 ') == 2, 10, server.stdout)
    assert server.stdout().count("hang=1") == 1, server.stdout()
    assert " 504 " not in server.stdout()
