"""Test app for the proxy, PROXY protocol and TLS tests.

``/upload`` (POST) answers the sha256 and length of the body it read, as JSON.
``/download?size=N`` streams ``pattern(N)`` in 64 KiB pieces; ``/file?size=N``
sends the same bytes through ``wsgi.file_wrapper`` from a real file.
``/redirect`` answers 302 to ``/next`` built from the environ per PEP 3333's
URL reconstruction. Any other path answers the environ keys a proxy affects
(and every forwarding header the app can see) as JSON, after ``?ms=N``
milliseconds, with the worker's pid and ``$TEST_HOST``.
"""
import hashlib
import json
import os
import tempfile
import time
from urllib.parse import parse_qs

SHOWN = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME",
         "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO")
CHUNK = 65536


def pattern(size):
    """``size`` bytes that are not one repeated byte (so a shift would show)."""
    block = hashlib.sha256(b"appserver").digest() * (CHUNK // 32)
    whole, rest = divmod(size, CHUNK)
    return block * whole + block[:rest]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    size = int(parse_qs(environ.get("QUERY_STRING", "")).get("size", ["0"])[0])
    if path == "/upload":
        return _json(start_response, _digest(environ["wsgi.input"]))
    if path == "/download":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        data = pattern(size)
        return (data[i:i + CHUNK] for i in range(0, size, CHUNK))
    if path == "/file":
        return _file(environ, start_response, size)
    if path == "/redirect":
        start_response("302 Found", [("Location", url(environ) + "/next"),
                                     ("Content-Length", "0")])
        return [b""]
    time.sleep(int(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0]) / 1000)
    shown = {k: environ[k] for k in SHOWN if k in environ}
    shown["headers"] = sorted(k for k in environ if "FORWARDED" in k or "SCRIPT_NAME" in k[5:])
    shown["pid"] = os.getpid()
    shown["host"] = os.environ.get("TEST_HOST")
    return _json(start_response, shown)


def _digest(stream):
    digest, length = hashlib.sha256(), 0
    while True:
        data = stream.read(CHUNK)
        if not data:
            return {"sha256": digest.hexdigest(), "length": length}
        digest.update(data)
        length += len(data)


def _file(environ, start_response, size):
    handle = tempfile.TemporaryFile()
    handle.write(pattern(size))
    handle.seek(0)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](handle, CHUNK)


def url(environ):
    """PEP 3333 URL reconstruction, up to SCRIPT_NAME."""
    scheme = environ["wsgi.url_scheme"]
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ["SERVER_NAME"]
        if environ["SERVER_PORT"] != {"https": "443", "http": "80"}[scheme]:
            host += ":" + environ["SERVER_PORT"]
    return scheme + "://" + host + environ.get("SCRIPT_NAME", "")


def _json(start_response, value):
    body = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
