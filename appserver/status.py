"""The arbiter's view of itself, as the admin listener serves it.

``snapshot(arbiter, now)`` is a plain dict of the arbiter and every worker's
scoreboard slot (pid, state, requests served, current request and for how
long, heartbeat age, RSS); the request line's query string is shown as
``?<hidden>`` unless ``admin-show-query`` (``shown_request``). ``routes(arbiter)`` maps admin paths to handlers:
``/healthz`` (200 while the arbiter loop runs and no worker is stuck),
``/readyz`` (200 once workers have booted and while not draining),
``/status`` (the snapshot as JSON), ``/metrics`` (Prometheus text format,
``appserver.metrics``). With both ``pid`` and ``admin-bind``, the arbiter
writes the admin listener's URL to ``admin_file(pid)`` (the pid file's path
plus ``.admin``) so ``appserver status --pid FILE`` finds it.
"""

import json
import os
import time

from appserver import __version__, metrics, scoreboard


def snapshot(arbiter, now):
    workers = []
    for worker in sorted(arbiter.workers.values(), key=lambda w: w.index):
        info = arbiter.scoreboard.read(worker.index)
        if info.pid != worker.pid:
            continue
        workers.append({
            "number": worker.index + 1,
            "pid": worker.pid,
            "state": scoreboard.STATE_NAMES[info.state],
            "requests": info.requests,
            "connections": info.connections,
            "request": shown_request(info.request_line,
                                     arbiter.cfg.admin_show_query) or None,
            "request_seconds": round(now - info.request_start, 3)
            if info.request_start else None,
            "heartbeat_age": round(now - info.heartbeat, 3),
            "age": round(now - worker.spawned_at, 1),
            "rss": info.rss,
            "retiring": arbiter.retiring.get(worker.pid),
        })
    return {
        "version": __version__,
        "pid": os.getpid(),
        "app": arbiter.cfg.app,
        "ready": arbiter.readiness.ready,
        "draining": arbiter.readiness.draining,
        "workers_wanted": arbiter.desired,
        "workers": workers,
    }


def shown_request(line, show_query=False):
    """The request line as the admin listener shows it: the query string of
    its target replaced by ``?<hidden>`` unless ``show_query``."""
    if show_query or "?" not in line:
        return line
    method, _, rest = line.partition(" ")
    target, space, version = rest.partition(" ")
    if "?" not in target:
        return line
    return "%s %s?%s%s%s" % (method, target.partition("?")[0], HIDDEN, space, version)


HIDDEN = "<hidden>"


def routes(arbiter):
    def healthz():
        stuck = [pid for pid in arbiter.timed_out if pid in arbiter.workers]
        if stuck:
            return 503, "text/plain", ("stuck workers: %s\n" % stuck).encode()
        return 200, "text/plain", b"ok\n"

    def readyz():
        if arbiter.readiness.draining:
            return 503, "text/plain", b"draining\n"
        if not arbiter.readiness.ready:
            return 503, "text/plain", b"booting\n"
        return 200, "text/plain", b"ready\n"

    def status():
        body = json.dumps(snapshot(arbiter, time.monotonic()), indent=1)
        return 200, "application/json", body.encode() + b"\n"

    def metrics_page():
        text = metrics.render(arbiter.monitor.view(time.monotonic()))
        return 200, "text/plain; version=0.0.4; charset=utf-8", text.encode()

    return {"/healthz": healthz, "/readyz": readyz, "/status": status,
            "/metrics": metrics_page}


def admin_file(pid_path):
    return pid_path + ".admin"


def write_admin_file(arbiter):
    """Put the admin listener's URL next to the pid file (if both exist)."""
    if arbiter.admin is None or not arbiter.cfg.pid:
        return
    path = admin_file(arbiter.cfg.pid)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(arbiter.admin.listener.url() + "\n")
    os.replace(tmp, path)


def remove_admin_file(arbiter):
    """Remove the admin file if this arbiter still owns the pid file."""
    if arbiter.admin is None or not arbiter.cfg.pid:
        return
    try:
        with open(arbiter.cfg.pid) as f:
            owner = int(f.read().strip() or 0)
    except (OSError, ValueError):
        owner = None
    if owner in (None, os.getpid()):
        try:
            os.unlink(admin_file(arbiter.cfg.pid))
        except OSError:
            pass
