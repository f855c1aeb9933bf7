"""Benchmark app ``mixed``: ``/slow`` sleeps 200 ms, every other path is hello.

Contract: ``application`` answers every path with the 13-byte ``hello`` body
and its ``Content-Length``; for ``PATH_INFO == "/slow"`` it first sleeps
``SLOW_SECONDS`` (0.2 s), as an app waiting on a slow backend would.
"""
import time

from hello import application as hello

SLOW_SECONDS = 0.2


def application(environ, start_response):
    """Sleep on /slow, then answer like hello."""
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(SLOW_SECONDS)
    return hello(environ, start_response)
