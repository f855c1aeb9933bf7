"""Benchmark app ``file``: serves one file through ``wsgi.file_wrapper``.

Contract: ``application`` opens the file named by the ``BENCH_FILE``
environment variable and returns it through ``wsgi.file_wrapper`` (64 KiB
blocks) with its ``Content-Length``, so a server may use ``sendfile``. A
server without ``wsgi.file_wrapper`` (it is optional in PEP 3333; Granian has
none) gets the file as an iterable of 64 KiB blocks, PEP 3333's fallback.
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
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None:
        return _blocks(path)
    return wrapper(open(path, "rb"), BLOCK)


def _blocks(path):
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            yield block
