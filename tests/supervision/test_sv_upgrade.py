"""USR2 upgrade under load: a new arbiter takes over the sockets, nothing drops.

Covers: with ``--pid FILE`` and a steady stream of requests (new connection
per request, and keep-alive), USR2 starts a new arbiter; once its workers
are ready it writes its pid to the pid file and asks the old arbiter to
stop; the old arbiter exits 0; requests are answered by workers whose
parent is the new arbiter; 0 failed requests. Then the new arbiter stops
on TERM with exit code 0 and removes the pid file. With
``--no-upgrade-handoff`` the old arbiter keeps running until WINCH (its
workers stop, the new arbiter serves alone) and TERM. When the new arbiter
fails to start (the app broke since), the old one keeps serving with no
failed request, keeps the pid file, and can be upgraded again; on a unix
socket the socket file must survive the failed upgrade.

The new arbiter is a child of the old one, so this test makes itself the
subreaper of its descendants: when the old arbiter exits, the new one is
adopted by the test, which can wait for it and read its exit code.
"""
import os
import signal

import pytest

from tests.harness.load import Load
from tests.harness.process import Subreaper, wait_until
from tests.harness.procfs import alive, children, parent_of
from tests.supervision.sv_load import wait_for_text


def _who(server):
    resp = server.get("/")
    assert resp.status == 200, resp
    pid, ppid = (int(x) for x in resp.body.split())
    return pid, ppid


@pytest.mark.timeout(45)
@pytest.mark.parametrize("keepalive", [False, True], ids=["new-conn", "keep-alive"])
def test_usr2_upgrade_hands_over_with_no_failed_request(server_factory, keepalive):
    with Subreaper() as reaper:
        server = server_factory("sv_app", workers=2, start=False)
        pidfile = server.tmpdir / "sv.pid"
        server.args = ("--pid", str(pidfile))
        server.start()
        old = server.pid
        old_workers = server.wait_for_workers(2)
        assert pidfile.read_text().strip() == str(old)
        with Load(server, threads=4, keepalive=keepalive, duration=30) as load:
            load.wait_for_ok(50)
            mark = server.log_offset()
            server.signal(signal.SIGUSR2)
            m = wait_for_text(server, r"Received USR2: started new arbiter (\d+)",
                              after=mark)
            new = int(m.group(1))
            reaper.adopted.add(new)
            wait_for_text(server, r"\[%d\] \[INFO\] Upgrade complete: asking the old "
                                  r"arbiter %d to stop" % (new, old),
                          after=mark, timeout=20)
            assert server.wait_exit(20) == 0, server.log()
            assert pidfile.read_text().strip() == str(new)
            load.wait_for_ok(100)
        assert load.failed == 0, load.summary()
        # The new arbiter serves: its workers answer, the old ones are gone.
        new_workers = wait_until(lambda: len(children(new)) == 2 and children(new),
                                 5, lambda: str(children(new)))
        assert not set(new_workers) & set(old_workers)
        assert not any(alive(pid) for pid in old_workers)
        pid, ppid = _who(server)
        assert ppid == new and pid in new_workers, (pid, ppid, new, new_workers)
        assert {p for _, p in load.served_by} <= {old, new}
        assert any(p == new for _, p in load.served_by), load.served_by
        assert parent_of(new) == os.getpid()    # adopted by us
        # The new arbiter stops cleanly and removes the pid file.
        mark = server.log_offset()
        os.kill(new, signal.SIGTERM)
        assert reaper.wait(new, 15) == 0, server.log()[mark:]
        assert not pidfile.exists()
        assert not any(alive(pid) for pid in new_workers)


@pytest.mark.timeout(45)
def test_usr2_without_handoff_waits_for_winch_and_term(server_factory):
    with Subreaper() as reaper:
        server = server_factory("sv_app", "--no-upgrade-handoff", workers=2,
                                start=False)
        pidfile = server.tmpdir / "sv.pid"
        server.args += ("--pid", str(pidfile))
        server.start()
        old = server.pid
        old_workers = server.wait_for_workers(2)
        with Load(server, threads=4, duration=30) as load:
            load.wait_for_ok(50)
            mark = server.log_offset()
            server.signal(signal.SIGUSR2)
            new = int(wait_for_text(server, r"Received USR2: started new arbiter (\d+)",
                                    after=mark).group(1))
            reaper.adopted.add(new)
            wait_until(lambda: pidfile.read_text().strip() == str(new), 20,
                       server.log)
            wait_until(lambda: len(children(new)) == 2, 10, server.log)
            # Both generations serve until the operator says otherwise.
            load.wait_for_ok(100)
            assert server.proc.poll() is None
            # The new arbiter is a child of the old one too.
            assert set(server.worker_pids()) == set(old_workers) | {new}
            server.signal(signal.SIGWINCH)
            wait_until(lambda: server.worker_pids() == [new], 10, server.log)
            load.wait_for_ok(100)
            assert server.proc.poll() is None
            server.signal(signal.SIGTERM)
            assert server.wait_exit(15) == 0, server.log()
            load.wait_for_ok(50)
        assert load.failed == 0, load.summary()
        assert _who(server)[1] == new
        assert {ppid for _, ppid in load.served_by} == {old, new}, load.served_by
        assert pidfile.read_text().strip() == str(new)
        os.kill(new, signal.SIGTERM)
        assert reaper.wait(new, 15) == 0, server.log()
        assert not pidfile.exists()


BROKEN_AFTER_START = '''\
import os
def application(environ, start_response):
    body = b"%d %d" % (os.getpid(), os.getppid())
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
'''


def _start_then_break(server_factory, tmp_path, **kw):
    from tests.harness.process import APPS_DIR
    app = tmp_path / "sv_upgradable.py"
    app.write_text(BROKEN_AFTER_START)
    server = server_factory("sv_upgradable", workers=2, start=False,
                            pythonpath=[tmp_path, APPS_DIR],
                            env={"PYTHONDONTWRITEBYTECODE": "1"}, **kw)
    pidfile = server.tmpdir / "sv.pid"
    server.args = ("--pid", str(pidfile))
    server.start()
    app.write_text("raise RuntimeError('sv_upgradable broken on purpose')\n")
    return server, pidfile


def _usr2_and_wait_for_failure(server):
    mark = server.log_offset()
    server.signal(signal.SIGUSR2)
    new = int(server.wait_for_log(r"Received USR2: started new arbiter (\d+)",
                                  after=mark).group(1))
    server.wait_for_log(r"The new arbiter %d exited with code 4 before taking over; "
                        r"this one keeps serving" % new, after=mark)
    return new, mark


@pytest.mark.timeout(30)
def test_usr2_whose_new_arbiter_fails_leaves_the_old_one_serving(server_factory,
                                                                 tmp_path):
    server, pidfile = _start_then_break(server_factory, tmp_path)
    workers = server.wait_for_workers(2)
    with Load(server, threads=4, duration=30) as load:
        load.wait_for_ok(50)
        new, mark = _usr2_and_wait_for_failure(server)
        load.wait_for_ok(100)
    assert load.failed == 0, load.summary()
    assert "sv_upgradable broken on purpose" in server.log()[mark:]
    assert server.proc.poll() is None
    assert server.worker_pids() == workers
    assert pidfile.read_text().strip() == str(server.pid)
    assert {ppid for _, ppid in load.served_by} == {server.pid}
    # A second upgrade may be tried once the first has failed.
    _usr2_and_wait_for_failure(server)
    assert server.get("/").status == 200


@pytest.mark.timeout(30)
def test_usr2_whose_new_arbiter_fails_keeps_the_unix_socket_file(server_factory,
                                                                 tmp_path):
    server, _ = _start_then_break(server_factory, tmp_path, unix=True)
    assert server.get("/").status == 200
    _usr2_and_wait_for_failure(server)
    assert server.proc.poll() is None
    assert os.path.exists(server.address), "the unix socket file was removed"
    assert server.get("/").status == 200
