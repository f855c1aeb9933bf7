"""Test app: send part of the body through the ``write()`` callable; validated.

Contract: ``write(b"first,")`` and ``write(b"second,")`` then returns the
iterable ``[b"third,", b"fourth"]``: the client must receive
``first,second,third,fourth`` in that order. No Content-Length unless
``?cl=1``.
"""
from wsgiref.validate import validator

PARTS = (b"first,", b"second,", b"third,", b"fourth")


def _app(environ, start_response):
    headers = [("Content-Type", "text/plain")]
    if environ.get("QUERY_STRING") == "cl=1":
        headers.append(("Content-Length", str(sum(map(len, PARTS)))))
    write = start_response("200 OK", headers)
    write(PARTS[0])
    write(PARTS[1])
    return [PARTS[2], PARTS[3]]


application = validator(_app)
