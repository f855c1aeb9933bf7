"""Test app: sleep ``?s=`` seconds, then answer; validated.

Contract: records ``start <pid>`` in ``slow.log`` (see ``_record``) before
sleeping and ``end <pid>`` after, then answers 200 application/json
``{"pid": PID, "slept": S}`` with Content-Length.
"""
import json
import os
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

from _record import record


def _app(environ, start_response):
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["1"])[0])
    record("slow.log", f"start {os.getpid()}")
    time.sleep(seconds)
    record("slow.log", f"end {os.getpid()}")
    out = json.dumps({"pid": os.getpid(), "slept": seconds}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


application = validator(_app)
