"""Test app: read the whole request body through wsgi.input; validated.

Contract: reads with ``read(n)`` in 64 KiB steps (up to CONTENT_LENGTH, or to
EOF when wsgi.input_terminated is true; 411 if neither) and answers 200
application/json ``{"length": N, "sha256": HEX, "reads": K}``.
"""
import hashlib
import json
from wsgiref.validate import validator

CHUNK = 65536


def _app(environ, start_response):
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH", "")
    if not length and not environ.get("wsgi.input_terminated"):
        start_response("411 Length Required",
                       [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]
    remaining = int(length) if length else None
    digest, total, reads = hashlib.sha256(), 0, 0
    while remaining is None or remaining > 0:
        data = stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
        reads += 1
        if not data:
            break
        digest.update(data)
        total += len(data)
        if remaining is not None:
            remaining -= len(data)
    out = json.dumps({"length": total, "sha256": digest.hexdigest(), "reads": reads}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


application = validator(_app)
