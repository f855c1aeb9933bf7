"""Test app: counts the requests it is called for in ``called.log`` and
answers ``app <PATH_INFO> <pid>`` as text; validated."""
import os
from wsgiref.validate import validator

from _record import record


def _app(environ, start_response):
    record("called.log", environ["PATH_INFO"])
    out = ("app %s %d" % (environ["PATH_INFO"], os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


application = validator(_app)
