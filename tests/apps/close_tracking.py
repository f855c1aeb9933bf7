"""Test app: a response iterable whose ``close()`` calls are recorded; validated.

Contract: ``GET /?chunks=N`` streams N chunks of 64 KiB (no Content-Length).
The iterable records ``yield <i>`` rarely (first and last chunk only) and
``close <pid> <chunks yielded>`` on every call of ``close()`` into
``close.log`` (see ``_record``), so a test can count the calls. A client that
disconnects early must still cause exactly one close().
"""
import os
from urllib.parse import parse_qs
from wsgiref.validate import validator

from _record import record

CHUNK = b"x" * 65536


class Body:
    """An iterable with close(), as PEP 3333 allows."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.sent = 0

    def __iter__(self):
        for i in range(self.chunks):
            self.sent = i + 1
            yield CHUNK

    def close(self):
        record("close.log", f"close {os.getpid()} {self.sent}")


def _app(environ, start_response):
    chunks = int(parse_qs(environ.get("QUERY_STRING", "")).get("chunks", ["4"])[0])
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Body(chunks)


application = validator(_app)
