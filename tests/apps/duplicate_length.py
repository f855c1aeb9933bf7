"""Test app: a response head with ``Content-Length`` twice (``?second=`` is
the second value, default the same ``2``): an app-side framing error the
server must name.

Contract: ``start_response("200 OK", [("Content-Length", "2"),
("Content-Length", <second>)])`` and body ``ok``. Not validated (the
duplicate is the point).
"""
from urllib.parse import parse_qs


def application(environ, start_response):
    second = parse_qs(environ.get("QUERY_STRING", "")).get("second", ["2"])[0]
    start_response("200 OK", [("Content-Length", "2"), ("Content-Length", second)])
    return [b"ok"]
