"""Test app for --preload: an at-fork hook that takes 0.3 s in every child.

Libraries that reconnect, reseed or reset state after a fork register such
hooks (``os.register_at_fork(after_in_child=...)``); they run in each new
worker right after the fork, before the worker's own code. Any request:
200 text ``"<pid> <ppid>"``.
"""
import os
import time


def _after_fork_in_child():
    time.sleep(0.3)


os.register_at_fork(after_in_child=_after_fork_in_child)


def application(environ, start_response):
    body = b"%d %d" % (os.getpid(), os.getppid())
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
