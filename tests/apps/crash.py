"""Test app: fail in the ways a server must survive; validated.

Contract, by PATH_INFO:

* ``/before``: raises ``RuntimeError("boom before start_response")`` before
  calling start_response (the server must answer 500 and log the traceback).
* ``/after-start``: calls start_response, then raises before returning a body
  (nothing was sent yet, so the server can still answer 500).
* ``/exc_info``: starts a 200, then catches its own error and calls
  start_response again with ``exc_info`` and a 503 before any body was sent;
  the client must see the 503 and its body ``recovered``.
* ``/after``: sends headers and a first body chunk, then raises (the server
  must close the connection so the client sees a truncated response).
* anything else: 200 ``ok``.
"""
import sys
from wsgiref.validate import validator


def _after():
    yield b"partial"
    raise RuntimeError("boom after headers")


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/before":
        raise RuntimeError("boom before start_response")
    if path == "/after-start":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise RuntimeError("boom after start_response")
    if path == "/exc_info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("handled by the app")
        except ValueError:
            body = b"recovered"
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                sys.exc_info(),
            )
            return [body]
    if path == "/after":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _after()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


application = validator(_app)
