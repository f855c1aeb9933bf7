"""Benchmark app ``upload``: reads the whole request body, answers its size.

Contract: ``application`` reads ``wsgi.input`` in 64 KiB reads until
``CONTENT_LENGTH`` bytes have arrived (or the input ends) and answers ``200``
with the number of bytes read as a decimal body. A GET reads nothing and
answers ``0``.
"""
READ_SIZE = 65536


def application(environ, start_response):
    """Read and count the request body."""
    body = str(_drain(environ)).encode("ascii")
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _drain(environ):
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    total = 0
    while remaining > 0:
        data = stream.read(min(READ_SIZE, remaining))
        if not data:
            break
        total += len(data)
        remaining -= len(data)
    return total
