"""Test app: exercise ``wsgi.input``'s read(n), readline(), readline(n),
readlines() and iteration, and report what they returned; validated.

Contract: ``POST /?mode=M`` runs ``exercise(stream, M)`` on wsgi.input and
answers 200 application/json with the list of returned pieces (latin-1 text).
Tests run the same ``exercise`` on an ``io.BytesIO`` of the body to know what
to expect. Modes: ``readline`` (readline() until b""), ``readline_n``
(readline(7) until b""), ``readlines``, ``iter``, ``mixed`` (a mix of all,
then read(n) to the end and two reads at EOF).

``application`` is wrapped in ``wsgiref.validate`` (whose input wrapper turns
iteration into readline() calls); ``raw`` is the same app unwrapped, so
iteration and readlines() reach the server's own ``wsgi.input``.
"""
import json
from urllib.parse import parse_qs
from wsgiref.validate import validator


def _until_empty(call):
    out = []
    while True:
        piece = call()
        out.append(piece)
        if not piece:
            return out


def exercise(stream, mode):
    """Run the ``mode`` read sequence on ``stream``; return the pieces read."""
    if mode == "readline":
        return _until_empty(stream.readline)
    if mode == "readline_n":
        return _until_empty(lambda: stream.readline(7))
    if mode == "readlines":
        return list(stream.readlines())
    if mode == "iter":
        return list(stream)
    if mode == "mixed":
        out = [stream.readline(), stream.readline(3), stream.readline(), stream.read(5)]
        out += [stream.readline(), stream.read(1)]
        out += _until_empty(lambda: stream.read(4096))
        out.append(stream.read(10))
        out.append(stream.readline())
        return out
    raise ValueError(f"unknown mode {mode!r}")


def _app(environ, start_response):
    mode = parse_qs(environ.get("QUERY_STRING", "")).get("mode", ["readline"])[0]
    pieces = exercise(environ["wsgi.input"], mode)
    out = json.dumps([p.decode("latin-1") for p in pieces]).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


application = validator(_app)
raw = _app
