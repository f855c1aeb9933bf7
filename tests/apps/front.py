"""Test app for servers behind a front end (uwsgi, nginx, Apache); validated.

Contract:

* ``POST /roundtrip``: reads the whole body (CONTENT_LENGTH bytes) and sends
  it back in 64 KiB pieces with no Content-Length, so the server picks the
  framing; headers ``X-Body-Length`` and ``X-Body-Sha256`` describe what it
  read.
* ``GET /redirect?to=URL``: 302 with ``Location: URL`` (URL percent-decoded).
* Anything else: 200 application/json, every environ key whose value is a
  str (``wsgi.url_scheme`` included).
"""
import hashlib
import json
from urllib.parse import parse_qs
from wsgiref.validate import validator

CHUNK = 65536


def read_body(environ):
    stream, remaining, parts = environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0), []
    while remaining > 0:
        data = stream.read(min(CHUNK, remaining))
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def roundtrip(environ, start_response):
    body = read_body(environ)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("X-Body-Length", str(len(body))),
                              ("X-Body-Sha256", hashlib.sha256(body).hexdigest())])
    return (body[i:i + CHUNK] for i in range(0, len(body), CHUNK))


def dump(environ, start_response):
    info = {k: v for k, v in environ.items() if isinstance(v, str)}
    out = json.dumps(info, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


def redirect(environ, start_response):
    target = parse_qs(environ["QUERY_STRING"])["to"][0]
    start_response("302 Found", [("Location", target), ("Content-Type", "text/plain"),
                                 ("Content-Length", "0")])
    return [b""]


def _app(environ, start_response):
    if environ["PATH_INFO"] == "/roundtrip" and environ["REQUEST_METHOD"] == "POST":
        return roundtrip(environ, start_response)
    if environ["PATH_INFO"] == "/redirect":
        return redirect(environ, start_response)
    return dump(environ, start_response)


application = validator(_app)
