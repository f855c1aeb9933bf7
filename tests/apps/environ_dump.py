"""Test app: dump the whole WSGI environ with each value's type; validated.

Contract: 200 application/json; an object mapping every environ key to
``{"type": <type name>, "value": <str value, or repr for non-str>}``.
``wsgi.input``/``wsgi.errors`` report only their type and which of the
PEP 3333 methods they have (``methods``).
"""
import json
from wsgiref.validate import validator

INPUT_METHODS = ("read", "readline", "readlines", "__iter__")
ERRORS_METHODS = ("write", "writelines", "flush")


def describe(key, value):
    """A JSON-friendly description of one environ value."""
    if key == "wsgi.input":
        return {"type": type(value).__name__,
                "methods": [m for m in INPUT_METHODS if hasattr(value, m)]}
    if key == "wsgi.errors":
        return {"type": type(value).__name__,
                "methods": [m for m in ERRORS_METHODS if hasattr(value, m)]}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    return {"type": type(value).__name__, "value": repr(value)}


def _app(environ, start_response):
    out = json.dumps({k: describe(k, v) for k, v in environ.items()}, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


application = validator(_app)
