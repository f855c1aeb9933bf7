"""Test app: answer with the status given in ``?status=`` (default ``103
Early Hints``), a 1xx the server must refuse as the final response.

Contract: ``start_response(<status>, [("Content-Type", "text/plain")])``, then
the body ``not an interim response``. Not wrapped in ``wsgiref.validate``: the
status is the point.
"""
from urllib.parse import parse_qs


def application(environ, start_response):
    status = parse_qs(environ.get("QUERY_STRING", "")).get("status", ["103 Early Hints"])[0]
    start_response(status, [("Content-Type", "text/plain")])
    return [b"not an interim response"]
