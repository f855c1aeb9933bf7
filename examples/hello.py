"""The smallest useful WSGI application: ``appserver hello`` (from this folder).

Contract: ``application(environ, start_response)`` answers every request with
``200 OK``, ``Content-Type: text/plain`` and the body ``Hello, World!\\n``
together with its ``Content-Length``.
"""

BODY = b"Hello, World!\n"


def application(environ, start_response):
    """Answer every request with a short plain-text greeting."""
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(BODY))),
        ],
    )
    return [BODY]
