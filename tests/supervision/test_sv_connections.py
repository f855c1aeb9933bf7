"""Connections outlive a retiring worker: every planned retirement under a
keep-alive load loses no request and closes no connection.

The load: ``KEEP`` client threads each on one keep-alive connection, reused
for every request, plus ``CLOSE`` threads opening a new connection per
request; a few hundred requests a second in all, bounded in count and time.
Through each of: 100 max-requests recycles, 10 HUP reloads, TTIN/TTOU
cycles, USR2 + WINCH + QUIT, and HUP under ``systemd-socket-activate``:
zero failed requests, zero stale keep-alive connections retried (a request
sent on a connection the server closed), and each keep-alive connection
opened exactly once (the server closed none of them). A recycled worker
served within [max, max + jitter] requests.
"""
import os
import re
import shutil
import signal

import pytest

from tests.harness.load import Mixed
from tests.harness.process import (
    APPSERVER, Proc, Subreaper, app_env, free_port, short_tmpdir, wait_until,
)
from tests.harness.procfs import children
from tests.supervision.sv_load import wait_booted, wait_exited, wait_for_text

@pytest.mark.timeout(120)
def test_100_max_requests_recycles_lose_nothing_and_stay_within_the_limit(
        server_factory):
    server = server_factory("sv_app", "--max-requests", "10", "--max-requests-jitter",
                            "5", workers=3)
    server.wait_for_workers(3)
    recycled = re.compile(r"Worker (\d+) served (\d+) requests \(max-requests\)")
    with Mixed(server, duration=100) as load:
        wait_until(lambda: len(recycled.findall(server.log())) >= 100, 90,
                   lambda: "%d recycled; %s" % (len(recycled.findall(server.log())),
                                                load.keep.summary()))
    done = [(int(pid), int(n)) for pid, n in recycled.findall(server.log())]
    wait_exited(server, [pid for pid, _ in done])
    load.check()
    served = {}
    for (pid, _), count in load.served_by.items():
        served[pid] = served.get(pid, 0) + count
    for pid, n in done:
        assert 10 <= n <= 15, (pid, n)
        assert served.get(pid, 0) == n, "worker %d: %d answered, %d counted" % (
            pid, served.get(pid, 0), n)


@pytest.mark.timeout(120)
def test_10_hup_reloads_lose_nothing(server_factory):
    server = server_factory("sv_app", workers=2)
    server.wait_for_workers(2)
    with Mixed(server, duration=100) as load:
        load.wait_for_ok(50)
        for _ in range(10):
            old = server.worker_pids()
            mark = server.log_offset()
            server.signal(signal.SIGHUP)
            wait_exited(server, old, after=mark)
            wait_booted(server, server.wait_for_workers(2))
            load.wait_for_ok(40)
    load.check()


@pytest.mark.timeout(120)
def test_ttin_ttou_cycles_lose_nothing(server_factory):
    server = server_factory("sv_app", workers=2)
    server.wait_for_workers(2)
    with Mixed(server, duration=100) as load:
        load.wait_for_ok(50)
        for _ in range(4):
            for name, wanted in (("TTIN", 3), ("TTOU", 2)):
                mark = server.log_offset()
                server.signal(getattr(signal, "SIG" + name))
                if name == "TTOU":
                    stopped = int(server.wait_for_log(
                        r"Stopping worker (\d+) gracefully: fewer workers wanted",
                        after=mark).group(1))
                    wait_exited(server, [stopped], after=mark)
                wait_booted(server, server.wait_for_workers(wanted))
                load.wait_for_ok(40)
    load.check()


@pytest.mark.timeout(120)
def test_usr2_winch_quit_lose_nothing(server_factory):
    with Subreaper() as reaper:
        server = server_factory("sv_app", "--no-upgrade-handoff", workers=2)
        old = server.pid
        old_workers = server.wait_for_workers(2)
        with Mixed(server, duration=100) as load:
            load.wait_for_ok(50)
            mark = server.log_offset()
            server.signal(signal.SIGUSR2)
            new = int(wait_for_text(server, r"Received USR2: started new arbiter (\d+)",
                                    after=mark).group(1))
            reaper.adopted.add(new)
            wait_until(lambda: len(children(new)) == 2, 20, server.log)
            wait_booted(server, children(new))
            load.wait_for_ok(50)
            server.signal(signal.SIGWINCH)
            wait_until(lambda: server.worker_pids() == [new], 20, server.log)
            load.wait_for_ok(50)
            server.signal(signal.SIGQUIT)
            assert server.wait_exit(15) == 0, server.log()
            load.wait_for_ok(50)
        load.check()
        parents = {ppid for _, ppid in load.served_by}
        assert parents == {old, new}, parents
        assert not set(old_workers) & set(children(new))
        os.kill(new, signal.SIGTERM)
        assert reaper.wait(new, 15) == 0, server.log()


SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate"


@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.access(SOCKET_ACTIVATE, os.X_OK),
                    reason="systemd-socket-activate is not installed")
def test_hup_under_socket_activation_loses_nothing():
    tmp = short_tmpdir()
    port = free_port()
    env = app_env()
    argv = [SOCKET_ACTIVATE, "-l", "127.0.0.1:%d" % port,
            "-E", "PYTHONPATH=" + env["PYTHONPATH"], "-E", "PYTHONUNBUFFERED=1",
            *APPSERVER, "deployapp", "--workers", "2"]
    proc = Proc(argv, env=env, tmpdir=tmp).start()
    try:
        proc.wait_for_log(r"Listening on 127\.0\.0\.1:%d" % port)
        with Mixed(("127.0.0.1", port), duration=100) as load:
            load.wait_for_ok(50)
            proc.wait_for_log(r"Ready: 2 workers booted")
            for _ in range(1, 4):
                mark = len(proc.log())
                os.kill(proc.pid, signal.SIGHUP)
                proc.wait_for_log(r"Booting worker", after=mark, count=2)
                proc.wait_for_log(r"Worker \d+ exited", after=mark, count=2)
                load.wait_for_ok(50)
        load.check()
        assert "Using 1 sockets from systemd" in proc.log()
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
