"""Test app: answer with the worker's pid (``os.getpid()``) as text; validated."""
import os
from wsgiref.validate import validator


def _app(environ, start_response):
    out = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


application = validator(_app)
