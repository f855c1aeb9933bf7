"""Test app: requests whose client may vanish midway; records when each
ends (see ``_record``).

Contract, by PATH_INFO:

* ``/upload``: reads wsgi.input in 64 KiB steps up to CONTENT_LENGTH
  (stopping early at b"" or on an error), records ``upload-ended`` in
  ``vanishing.log`` whatever happened, answers 200 ``{"length": N}``.
* ``/download``: answers 200 with Content-Length 64 MiB, yielded in 64 KiB
  chunks from a generator that records ``download-closed`` when it is
  closed (PEP 3333: the server calls ``close()`` even when the client left).
* ``/hold?s=S``: records ``start``, sleeps S seconds, records ``end`` in
  ``hold.log``, answers 200 ``held``.
"""
import json
import time
from urllib.parse import parse_qs

from _record import record

CHUNK = 65536
SIZE = 64 * 1024 * 1024


def _upload(environ):
    stream, left, total = environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0), 0
    try:
        while left > 0:
            data = stream.read(min(CHUNK, left))
            if not data:
                break
            total += len(data)
            left -= len(data)
    finally:
        record("vanishing.log", "upload-ended")
    return json.dumps({"length": total}).encode()


def _download():
    piece = b"d" * CHUNK
    try:
        for _ in range(SIZE // CHUNK):
            yield piece
    finally:
        record("vanishing.log", "download-closed")


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/upload":
        body = _upload(environ)
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/download":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(SIZE))])
        return _download()
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["1"])[0])
    record("hold.log", "start")
    time.sleep(seconds)
    record("hold.log", "end")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"held"]
