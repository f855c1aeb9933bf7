"""Test app: record the order in which requests are served; validated.

Contract: records ``<path>`` in ``started.log``, sleeps ``?s=`` seconds
(default 0), then records ``<path>`` in ``order.log`` (see ``_record``) and
answers 200 text/plain with the path and a Content-Length.
"""
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

from _record import record


def _app(environ, start_response):
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["0"])[0])
    path = environ["PATH_INFO"]
    record("started.log", path)
    time.sleep(seconds)
    record("order.log", path)
    out = path.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


application = validator(_app)
