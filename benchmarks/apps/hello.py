"""Benchmark app ``hello``: every request gets ``200`` and a 13-byte body.

Contract: ``application`` answers any method and path with ``Hello, World!``
(13 bytes) and its ``Content-Length``; it reads no request body.
"""
BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    """Answer with the fixed 13-byte greeting."""
    start_response("200 OK", list(HEADERS))
    return [BODY]
