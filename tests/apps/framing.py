"""Test app: responses whose framing the server must get right; validated.

Contract: ``GET /?code=C&declared=D&actual=A`` answers status ``C`` (default
200) with ``A`` bytes ``b"a"`` (default 0) and, when ``declared`` is given, a
``Content-Length: D`` that may lie (shorter or longer than the body). 204 and
304 responses carry no Content-Type (PEP 3333 via wsgiref.validate).
"""
from urllib.parse import parse_qs
from wsgiref.validate import validator

REASONS = {"200": "OK", "204": "No Content", "304": "Not Modified"}


def _app(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    code = query.get("code", ["200"])[0]
    actual = int(query.get("actual", ["0"])[0])
    headers = [] if code in ("204", "304") else [("Content-Type", "text/plain")]
    if "declared" in query:
        headers.append(("Content-Length", query["declared"][0]))
    start_response(f"{code} {REASONS.get(code, 'Status')}", headers)
    return [b"a" * actual] if actual else []


application = validator(_app)
