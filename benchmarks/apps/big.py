"""Benchmark app ``big``: 1 MiB streamed in 64 KiB chunks, no Content-Length.

Contract: ``application`` yields 16 chunks of 64 KiB each (1 MiB in all) and
sets no ``Content-Length``, so an HTTP/1.1 server must frame it itself
(chunked) or close the connection after it.
"""
CHUNK = b"x" * 65536
COUNT = 16


def application(environ, start_response):
    """Stream 1 MiB without announcing its length."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _chunks()


def _chunks():
    for _ in range(COUNT):
        yield CHUNK
