# Server hooks written as in Gunicorn's documented example config
# (examples/example_config.py), plus every other hook of Gunicorn's settings
# list, each logging through server.log / worker.log what Gunicorn's objects
# carry. Run unchanged by tests/dropin/test_fn_hooks.py.
import sys
import threading
import traceback

loglevel = "debug"
timeout = 2
graceful_timeout = 5
accesslog = "-"


def on_starting(server):
    server.log.info("on_starting: pid %s, %s workers, app %s, proc %s",
                    server.pid, server.num_workers, server.cfg.wsgi_app,
                    server.proc_name)


def on_reload(server):
    server.log.info("on_reload: %s workers", server.num_workers)


def when_ready(server):
    server.log.info("Server is ready. Spawning workers")
    server.log.info("when_ready: listening on %s", server.LISTENERS[0])


def pre_fork(server, worker):
    server.log.info("pre_fork: worker age %s pid %s", worker.age, worker.pid)


def post_fork(server, worker):
    server.log.info("Worker spawned (pid: %s)", worker.pid)
    server.log.info("post_fork: age %s ppid %s master %s", worker.age, worker.ppid,
                    server.pid)


def post_worker_init(worker):
    worker.log.info("post_worker_init: pid %s booted %s alive %s timeout %s wsgi %s",
                    worker.pid, worker.booted, worker.alive, worker.timeout,
                    callable(worker.wsgi))


def pre_exec(server):
    server.log.info("Forked child, re-executing.")


def worker_int(worker):
    worker.log.info("worker received INT or QUIT signal")

    ## get traceback info
    id2name = {th.ident: th.name for th in threading.enumerate()}
    code = []
    for threadId, stack in sys._current_frames().items():
        code.append("\n# Thread: %s(%d)" % (id2name.get(threadId, ""), threadId))
        for filename, lineno, name, line in traceback.extract_stack(stack):
            code.append('File: "%s", line %d, in %s' % (filename, lineno, name))
            if line:
                code.append("  %s" % (line.strip()))
    worker.log.debug("\n".join(code))


def worker_abort(worker):
    worker.log.info("worker received SIGABRT signal")


def pre_request(worker, req):
    worker.log.debug("%s %s" % (req.method, req.path))
    headers = dict(req.headers)
    worker.log.info("pre_request: %s %s query %s version %s host %s from %s nr %s",
                    req.method, req.uri, req.query, req.version, headers["HOST"],
                    req.remote_addr[0], worker.nr)


def post_request(worker, req, environ, resp):
    worker.log.info("post_request: %s %s -> %s (%d) %s sent %d nr %s",
                    req.method, req.path, resp.status, resp.status_code,
                    dict(resp.headers).get("Content-Type"), resp.sent, worker.nr)


def child_exit(server, worker):
    server.log.info("child_exit: worker %s", worker.pid)


def worker_exit(server, worker):
    server.log.info("worker_exit: worker %s served %s", worker.pid, worker.nr)


def nworkers_changed(server, new_value, old_value):
    server.log.info("nworkers_changed: %s -> %s", old_value, new_value)


def on_exit(server):
    server.log.info("on_exit: pid %s", server.pid)


def ssl_context(conf, default_ssl_context_factory):
    import ssl
    context = default_ssl_context_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context
