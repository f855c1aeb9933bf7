"""A hooks file written like Gunicorn's documented example config runs
unchanged: every hook is called, logs through ``server.log``/``worker.log``
what Gunicorn's objects carry, and the error log has no error line."""
import os
import re
import signal

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "gunicorn_example_hooks.py")


def test_gunicorn_example_hooks_run_without_error(server_factory):
    srv = server_factory("slow", "-c", CONF)
    arbiter = srv.pid
    [worker] = srv.worker_pids()
    srv.wait_for_log(r"when_ready: listening on ")
    srv.wait_for_log(r"post_worker_init: pid %d booted True alive True timeout 2 "
                     r"wsgi True" % worker)
    log = srv.log()
    assert re.search(r"on_starting: pid %d, 1 workers, app slow, proc appserver"
                     % arbiter, log), log
    assert "pre_fork: worker age 1 pid [booting]" in log
    assert "Worker spawned (pid: %d)" % worker in log
    assert "post_fork: age 1 ppid %d master %d" % (arbiter, arbiter) in log

    assert srv.get("/x?s=0").status == 200
    srv.wait_for_log(r"post_request: ")
    log = srv.log()
    assert "[DEBUG] GET /x" in log
    assert re.search(r"pre_request: GET /x\?s=0 query s=0 version \(1, 1\) host "
                     r"\S+ from 127\.0\.0\.1 nr 0", log), log
    assert re.search(r"post_request: GET /x -> 200 OK \(200\) application/json "
                     r"sent \d+ nr 1", log), log

    srv.signal(signal.SIGTTIN)
    srv.wait_for_log(r"nworkers_changed: 1 -> 2")
    srv.wait_for_workers(2)
    srv.wait_for_log(r"pre_fork: worker age 2 ")

    assert srv.get("/slow?s=30", timeout=20).status == 504        # timeout = 2
    srv.wait_for_log(r"worker received SIGABRT signal")
    srv.wait_for_log(r"child_exit: worker \d+")
    srv.wait_for_log(r"post_request: GET /slow -> 504 Gateway Timeout \(504\)")
    srv.wait_for_log(r"worker_exit: worker \d+ served \d+")
    srv.wait_for_workers(2)

    mark = srv.log_offset()
    srv.signal(signal.SIGHUP)
    srv.wait_for_log(r"nworkers_changed: 2 -> 1\n.*on_reload: 1 workers", after=mark)
    # Not just one worker alive: the oldest old one is stopped before the
    # replacement is forked, so for a moment the other old one runs alone.
    srv.wait_for_log(r"Reload complete: 1 worker", after=mark, timeout=20)
    srv.wait_for_workers(1)

    [worker] = srv.worker_pids()
    srv.wait_for_log(r"post_worker_init: pid %d " % worker)
    os.kill(worker, signal.SIGINT)
    srv.wait_for_log(r"worker received INT or QUIT signal")
    srv.wait_for_log(r"# Thread: MainThread")
    srv.wait_for_workers(1, exclude=(worker,))

    srv.stop()
    log = srv.log()
    assert re.search(r"on_exit: pid %d" % arbiter, log), log
    errors = [line for line in log.splitlines()
              if "[ERROR]" in line or "[CRITICAL]" in line or "Traceback" in line
              or "Hook " in line]
    # The timeout is the one error a Gunicorn server would log too.
    assert [line for line in errors if "timed out" not in line
            and "WORKER TIMEOUT" not in line] == [], log
