"""Config file for the hook tests: every hook records its name and arguments.

Each hook appends ``<hook> <pid> <details>`` to ``$TESTAPP_RECORD_DIR/hooks.log``
(one ``write`` with O_APPEND, so processes never interleave). ``post_request``
raises for ``/fail-hook`` to show a failing hook is logged, not fatal.
"""
import os

timeout = 1
access_logfile = "-"


def _record(*words):
    fd = os.open(os.path.join(os.environ["TESTAPP_RECORD_DIR"], "hooks.log"),
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (" ".join(str(w) for w in words) + "\n").encode())
    finally:
        os.close(fd)


def on_starting(server):
    _record("on_starting", os.getpid(), type(server).__name__)


def on_reload(server):
    _record("on_reload", os.getpid())


def when_ready(server):
    _record("when_ready", os.getpid(), len(server.workers))


def pre_fork(server, worker):
    _record("pre_fork", os.getpid(), worker.pid, worker.index)


def post_fork(server, worker):
    _record("post_fork", os.getpid(), worker.pid, worker.number)


def post_worker_init(worker):
    _record("post_worker_init", os.getpid(), worker.app is not None)


def worker_int(worker):
    _record("worker_int", os.getpid())


def worker_abort(worker):
    _record("worker_abort", os.getpid())


def pre_request(worker, req):
    _record("pre_request", os.getpid(), req.method, req.path)


def post_request(worker, req, environ, resp):
    _record("post_request", os.getpid(), req.path, resp.code,
            environ["appserver.request_id"][:4])
    if req.path == "/fail-hook":
        raise RuntimeError("boom in post_request")


def child_exit(server, worker):
    _record("child_exit", os.getpid(), worker.pid)


def worker_exit(server, worker):
    _record("worker_exit", os.getpid(), worker.pid, type(server).__name__)


def nworkers_changed(server, new_value, old_value):
    _record("nworkers_changed", os.getpid(), new_value, old_value)


def on_exit(server):
    _record("on_exit", os.getpid())
