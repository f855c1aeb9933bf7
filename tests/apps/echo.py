"""Test app: echo the request back as JSON; validated by ``wsgiref.validate``.

Contract: the response (200, application/json, with Content-Length) is an
object with ``method``, ``path`` (PATH_INFO), ``script_name``, ``query``,
``protocol``, ``remote_addr``, ``remote_port``, ``server_name``,
``server_port``, ``scheme``, ``content_type``, ``content_length``, ``headers``
(every HTTP_* key, name as in environ), the ``wsgi.*`` flags (``multithread``,
``multiprocess``, ``run_once``, ``input_terminated``, ``version``), ``pid``,
and ``body`` (latin-1 text of everything read from wsgi.input: CONTENT_LENGTH
bytes, or until EOF when wsgi.input_terminated is true).
"""
import json
import os
from wsgiref.validate import validator


def read_body(environ, chunk=65536):
    """Read the whole request body as PEP 3333 allows: by CONTENT_LENGTH, or
    until EOF when the server says the input is terminated."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH", "")
    parts = []
    if length:
        remaining = int(length)
        while remaining > 0:
            data = stream.read(min(chunk, remaining))
            if not data:
                break
            parts.append(data)
            remaining -= len(data)
    elif environ.get("wsgi.input_terminated"):
        while True:
            data = stream.read(chunk)
            if not data:
                break
            parts.append(data)
    return b"".join(parts)


def _app(environ, start_response):
    body = read_body(environ)
    info = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "script_name": environ["SCRIPT_NAME"],
        "query": environ.get("QUERY_STRING"),
        "protocol": environ["SERVER_PROTOCOL"],
        "remote_addr": environ.get("REMOTE_ADDR"),
        "remote_port": environ.get("REMOTE_PORT"),
        "server_name": environ["SERVER_NAME"],
        "server_port": environ["SERVER_PORT"],
        "scheme": environ["wsgi.url_scheme"],
        "content_type": environ.get("CONTENT_TYPE"),
        "content_length": environ.get("CONTENT_LENGTH"),
        "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        "multithread": environ["wsgi.multithread"],
        "multiprocess": environ["wsgi.multiprocess"],
        "run_once": environ["wsgi.run_once"],
        "input_terminated": environ.get("wsgi.input_terminated"),
        "version": list(environ["wsgi.version"]),
        "pid": os.getpid(),
        "body": body.decode("latin-1"),
    }
    out = json.dumps(info).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(out)))],
    )
    return [out]


application = validator(_app)
