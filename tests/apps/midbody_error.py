"""Test app: start a response without Content-Length, send part of its
body, then raise (the body cannot be completed); validated.

Contract: 200 text/plain, first piece ``partial body``, then
``RuntimeError("boom in the middle of the body")``.
"""
from wsgiref.validate import validator


def _body():
    yield b"partial body"
    raise RuntimeError("boom in the middle of the body")


def _app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _body()


application = validator(_app)
