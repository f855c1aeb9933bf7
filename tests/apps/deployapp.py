"""Test app for the deployment tests.

``/`` answers ``pid N`` with the worker's pid. ``/orphan?seconds=S`` forks a
child that forks ``sleep S`` and exits at once, so the ``sleep`` is orphaned
and adopted by the nearest reaper (PID 1 of the namespace); it answers the
``sleep``'s pid as seen in the worker's PID namespace.
"""
import os
from urllib.parse import parse_qs


def application(environ, start_response):
    if environ["PATH_INFO"] == "/orphan":
        seconds = parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["1"])[0]
        body = str(_orphan(seconds)).encode()
    else:
        body = ("pid %d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _orphan(seconds):
    """Double-fork ``sleep seconds``; return its pid once its parent is gone."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            grandchild = os.fork()
            if grandchild == 0:
                os.closerange(3, 1024)
                os.execvp("sleep", ["sleep", seconds])
            os.write(write_end, str(grandchild).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as f:
        return int(f.read())
