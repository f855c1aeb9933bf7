"""Test app: ``205 Reset Content`` with a body and a Content-Length that lie
(RFC 9110 15.3.6: a 205 has no content); validated.

Contract: any request is answered 205 with ``Content-Length: 14`` and the
body ``must not go out`` (14 bytes), in two pieces.
"""
from wsgiref.validate import validator


def _app(environ, start_response):
    start_response("205 Reset Content", [("Content-Type", "text/plain"),
                                         ("Content-Length", "14")])
    return [b"must not", b" go out"]


application = validator(_app)
