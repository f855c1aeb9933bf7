"""Test app: answer with the names of the modules the worker has imported.

Contract: 200 application/json, a sorted list of ``sys.modules`` keys, with
Content-Length.
"""
import json
import sys


def application(environ, start_response):
    out = json.dumps(sorted(sys.modules)).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]
