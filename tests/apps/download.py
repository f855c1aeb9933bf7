"""Test app: stream N bytes of a deterministic pattern; validated.

Contract: ``GET /?n=N[&cl=0|1]`` answers 200 application/octet-stream with N
bytes produced by ``pattern(N)`` (yielded in 64 KiB chunks from a generator),
with ``Content-Length`` when ``cl=1`` (the default) and without it when
``cl=0``. ``expected_sha256(n)`` gives the digest a client should see.
"""
import hashlib
from urllib.parse import parse_qs
from wsgiref.validate import validator

CHUNK = 65536
# 251 is prime, so consecutive chunks differ: a lost or repeated chunk
# changes the digest. _PERIOD is long enough to slice any chunk from it.
_PERIOD = bytes(i % 251 for i in range(CHUNK + 251))


def pattern(n):
    """Yield ``n`` bytes of the pattern in CHUNK-sized pieces."""
    offset = 0
    while offset < n:
        size = min(CHUNK, n - offset)
        start = offset % 251
        yield _PERIOD[start:start + size]
        offset += size


def expected_sha256(n):
    digest = hashlib.sha256()
    for piece in pattern(n):
        digest.update(piece)
    return digest.hexdigest()


def _app(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(query.get("n", ["0"])[0])
    headers = [("Content-Type", "application/octet-stream")]
    if query.get("cl", ["1"])[0] == "1":
        headers.append(("Content-Length", str(n)))
    start_response("200 OK", headers)
    return pattern(n)


application = validator(_app)
