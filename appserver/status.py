"""The arbiter's view of itself, as the admin listener serves it.

``snapshot(arbiter, now)`` is a plain dict of the arbiter and every worker's
scoreboard slot (pid, state, requests served, current request and for how
long, heartbeat age, RSS). ``routes(arbiter)`` maps admin paths to handlers:
``/healthz`` (200 while the arbiter loop runs and no worker is stuck),
``/readyz`` (200 once workers have booted and while not draining),
``/status`` (the snapshot as JSON).
"""

import json
import os
import time

from appserver import __version__, scoreboard


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
            "request": info.request_line or None,
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

    return {"/healthz": healthz, "/readyz": readyz, "/status": status}
