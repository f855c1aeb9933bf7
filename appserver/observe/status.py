"""The arbiter's view of itself, as the admin listener serves it.

``snapshot(snap)`` is a plain dict of the arbiter and every worker's
scoreboard slot (pid, state, requests served, current request and for how
long, heartbeat age, RSS; with ``--threads``, ``threads``: each thread's
state, request and its age), made from a ``plan.Snapshot``: this module reads no
arbiter attribute. The request line's query string is shown as ``?<hidden>``
unless ``admin-show-query`` (``shown_request``). ``routes(look,
metrics_view)`` maps admin paths to handlers, where ``look()`` returns a
fresh ``plan.Snapshot`` and ``metrics_view()`` the ``monitor.View``:
``/healthz`` (200 while the arbiter loop runs and no worker is stuck),
``/readyz`` (200 once workers have booted and while not draining),
``/status`` (the snapshot as JSON), ``/metrics`` (Prometheus text format,
``appserver.observe.metrics``). With both ``pid`` and ``admin-bind``, the arbiter
writes the admin listener's URL to ``admin_file(pid)`` (the pid file's path
plus ``.admin``) so ``appserver status --pid FILE`` finds it.
"""

import json
import os

from appserver import __version__
from appserver.observe import metrics, scoreboard


def snapshot(snap):
    table, now = snap.table, snap.table.now
    workers = []
    for worker in sorted(table.workers, key=lambda w: w.index):
        info = table.infos.get(worker.index)
        if info is None or info.pid != worker.pid:
            continue
        workers.append({
            "number": worker.index + 1,
            "pid": worker.pid,
            "state": scoreboard.WorkerState(info.state).label,
            "requests": info.requests,
            "connections": info.connections,
            "request": shown_request(info.request_line,
                                     snap.cfg.admin_show_query) or None,
            "request_seconds": round(now - info.request_start, 3)
            if info.request_start else None,
            "heartbeat_age": round(now - info.heartbeat, 3),
            "age": round(now - worker.spawned_at, 1),
            "rss": info.rss,
            "retiring": table.retiring.get(worker.pid),
            "threads": [_thread(number, row, now, snap.cfg.admin_show_query)
                        for number, row in enumerate(info.threads, 1)],
        })
    return {
        "version": __version__,
        "pid": os.getpid(),
        "app": snap.cfg.app,
        "ready": snap.ready,
        "draining": snap.draining,
        "workers_wanted": snap.desired,
        "workers": workers,
    }


def _thread(number, row, now, show_query):
    """One thread row of a worker (``--threads``) for the snapshot."""
    return {
        "thread": number,
        "state": scoreboard.WorkerState(row.state).label,
        "request": shown_request(row.request_line, show_query) or None,
        "request_seconds": round(now - row.request_start, 3)
        if row.request_start else None,
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


def routes(look, metrics_view):
    def healthz():
        table = look().table
        live = {w.pid for w in table.workers}
        stuck = [pid for pid in table.timed_out if pid in live]
        if stuck:
            return 503, "text/plain", ("stuck workers: %s\n" % stuck).encode()
        return 200, "text/plain", b"ok\n"

    def readyz():
        snap = look()
        if snap.draining:
            return 503, "text/plain", b"draining\n"
        if not snap.ready:
            return 503, "text/plain", b"booting\n"
        return 200, "text/plain", b"ready\n"

    def status():
        body = json.dumps(snapshot(look()), indent=1)
        return 200, "application/json", body.encode() + b"\n"

    def metrics_page():
        text = metrics.render(metrics_view())
        return 200, "text/plain; version=0.0.4; charset=utf-8", text.encode()

    return {"/healthz": healthz, "/readyz": readyz, "/status": status,
            "/metrics": metrics_page}


def admin_file(pid_path):
    return pid_path + ".admin"


def write_admin_file(pid_path, url):
    """Put the admin listener's ``url`` next to the pid file ``pid_path``."""
    path = admin_file(pid_path)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(url + "\n")
    os.replace(tmp, path)


def remove_admin_file(pid_path):
    """Remove the admin file if this arbiter still owns the pid file."""
    try:
        with open(pid_path) as f:
            owner = int(f.read().strip() or 0)
    except (OSError, ValueError):
        owner = None
    if owner in (None, os.getpid()):
        try:
            os.unlink(admin_file(pid_path))
        except OSError:
            pass
