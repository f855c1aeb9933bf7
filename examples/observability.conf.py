"""An example appserver config file: settings, observability and server hooks.

Use it with ``appserver -c examples/observability.conf.py myproj.wsgi``. (It is
not named ``appserver.conf.py``, which appserver loads by default from the
current directory, so running an example from ``examples/`` does not pick it
up unasked.) Module-level
names are settings (see docs/settings.md); functions named after a server hook
are called by the server (see docs/observability.md for when, where and with
which arguments). A failing hook is logged and ignored, except on_starting
(the start fails) and post_worker_init (that worker does not boot).
"""
import os
import time

bind = "127.0.0.1:8000"
admin_bind = "127.0.0.1:9000"          # /healthz /readyz /status /metrics
workers = 2
access_logfile = "-"
access_log_format = "json"
request_id_header = "X-Request-ID"
slow_request = 5.0


def on_starting(server):
    server.log_started_at = time.time()


def when_ready(server):
    print("appserver bound: pid %d, admin %s; forking %d workers" % (
        server.pid, server.cfg.admin_bind, server.num_workers), flush=True)


def pre_fork(server, worker):
    pass                                # worker.index is the scoreboard slot


def post_fork(server, worker):
    os.environ["WORKER_NUMBER"] = str(worker.number)


def post_worker_init(worker):
    pass                                # warm caches here; raising stops this worker


def pre_request(worker, req):
    worker._started = time.monotonic()


def post_request(worker, req, environ, resp):
    took = time.monotonic() - worker._started
    if took > 1.0:
        print("slow: %s %s took %.2f s (request id %s)" % (
            req.method, req.target, took, environ["appserver.request_id"]), flush=True)


def worker_int(worker):
    print("worker %d interrupted" % worker.pid, flush=True)


def worker_abort(worker):
    print("worker %d timed out" % worker.pid, flush=True)


def child_exit(server, worker):
    pass                                # runs in the arbiter after a worker exited


def worker_exit(server, worker):
    pass                                # runs in the worker as it exits


def nworkers_changed(server, new_value, old_value):
    print("workers: %d -> %d" % (old_value, new_value), flush=True)


def on_reload(server):
    pass


def pre_exec(server):
    pass                                # before USR2 starts the new arbiter


def on_exit(server):
    print("appserver stopped after %.0f s" % (time.time() - server.log_started_at),
          flush=True)
