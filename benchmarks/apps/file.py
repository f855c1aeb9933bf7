"""Benchmark app ``file``: serves one file through ``wsgi.file_wrapper``.

Contract: ``application`` opens the file named by the ``BENCH_FILE``
environment variable and returns it through ``wsgi.file_wrapper`` (64 KiB
blocks) with its ``Content-Length``, so a server may use ``sendfile``.
"""
import os

BLOCK = 65536


def application(environ, start_response):
    """Return the benchmark file through the server's file wrapper."""
    path = os.environ["BENCH_FILE"]
    size = os.path.getsize(path)
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))],
    )
    return environ["wsgi.file_wrapper"](open(path, "rb"), BLOCK)
