"""Test app: ``Hello, World!\\n`` as text/plain with Content-Length, for any
request; validated by ``wsgiref.validate``."""
from wsgiref.validate import validator

BODY = b"Hello, World!\n"


def _app(environ, start_response):
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]


application = validator(_app)
