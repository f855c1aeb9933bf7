"""Test app: a response without Content-Length, sent in two pieces; with
``?stall=1`` the app stops between them (so a test can kill the worker in
the middle of the body); validated.

Contract: 200 text/plain; first piece ``partial``; then, unless stalled,
`` done``. A stalled request records ``stalled <pid>`` in ``stall.log``
(see ``_record``) and sleeps 60 s.
"""
import os
import time
from wsgiref.validate import validator

from _record import record


def _body(stall):
    yield b"partial"
    if stall:
        record("stall.log", "stalled %d" % os.getpid())
        time.sleep(60)
    yield b" done"


def _app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _body("stall=1" in environ.get("QUERY_STRING", ""))


application = validator(_app)
