"""Warm-up requests: a new worker serves them to itself before it counts as booted.

``parse(values)`` turns the ``warmup`` setting (``/path?query``, or
``http://host/path`` to send that ``Host``) into raw request heads, or raises
``ConfigError`` (checked at start and on HUP, before any worker is forked).
``serve_or_exit(app, base, values)`` is the worker's call: it logs the
failure and exits with ``EXIT_APP_LOAD``.
``run(app, base, heads)`` serves each head to ``app`` in this process, as a
client's request would be: parsed by the real parser, its environ built by
``wsgi.environ`` from the worker's own listener (``base``), the whole body
read and ``close()`` called. The environ carries ``appserver.warmup``: True.
It raises ``WarmupFailed`` (with a message that says which request and why)
when the app raises or answers with a 5xx; a 4xx is logged as a warning (the
request may have been refused before reaching the code it meant to load, e.g.
a ``Host`` the app does not allow). Frameworks that import code on the first
request (Django resolves its URLconf and imports the views then) fail here, in
a new worker, instead of on a client's request.
"""

import io
import logging
import sys
import traceback
from urllib.parse import urlsplit

from appserver import errors
from appserver.errors import ConfigError
from appserver.http.parser import Request, RequestParser
from appserver.wsgi.environ import build_environ

log = logging.getLogger("appserver")

PEER = ("127.0.0.1", 0)


class WarmupFailed(Exception):
    """A warm-up request raised or answered 5xx; ``str()`` says which and why."""


def parse(values):
    """Raw request heads for the ``warmup`` values; ``ConfigError`` if one is bad."""
    heads = []
    for value in values:
        host, target = _split(value)
        head = "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: appserver-warmup\r\n\r\n" % (
            target, host)
        try:
            _request(head.encode("latin-1"))
        except Exception as exc:
            raise ConfigError("warmup: %r is not a request path (%s); give /PATH or "
                              "http://HOST/PATH" % (value, exc)) from None
        heads.append(head.encode("latin-1"))
    return heads


def _split(value):
    if value.startswith("/"):
        return "localhost", value
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ConfigError("warmup: %r is not a request path; give /PATH or "
                          "http://HOST/PATH" % value)
    target = url.path or "/"
    if url.query:
        target += "?" + url.query
    return url.netloc, target


def _request(head):
    parser = RequestParser()
    parser.feed(head)
    event = parser.next_event()
    if not isinstance(event, Request):
        raise ValueError("incomplete request")
    return event


def serve_or_exit(app, base, values):
    """In a booting worker: warm up, or log why not and exit ``EXIT_APP_LOAD``."""
    try:
        run(app, base, parse(values))
    except (WarmupFailed, ConfigError) as exc:
        log.error("Worker failed to warm up: %s", exc)
        raise SystemExit(errors.EXIT_APP_LOAD) from None


def run(app, base, heads):
    """Serve every head to ``app``; raises ``WarmupFailed`` on the first failure."""
    for head in heads:
        request = _request(head)
        environ = build_environ(base, request, PEER, io.BytesIO(b""))
        environ["appserver.warmup"] = True
        status = _call(app, environ, request.line)
        code = status.split(None, 1)[0] if status else ""
        if not code.isdigit():
            raise WarmupFailed("warm-up request %s: bad status %r" % (request.line, status))
        code = int(code)
        if code >= 500:
            raise WarmupFailed("warm-up request %s answered %s" % (request.line, status))
        if code >= 400:
            log.warning("Warm-up request %s answered %s: it may not have reached the "
                        "code it was meant to load", request.line, status)


def _call(app, environ, line):
    """Call the app, read the whole body; the status line it answered."""
    answered = []

    def start_response(status, headers, exc_info=None):
        answered[:] = [status]
        return lambda data: None

    try:
        body = app(environ, start_response)
        try:
            for _ in body:
                pass
        finally:
            if hasattr(body, "close"):
                body.close()
    except Exception:
        raise WarmupFailed("warm-up request %s raised:\n%s" % (
            line, "".join(traceback.format_exception(*sys.exc_info())).rstrip())) from None
    if not answered:
        raise WarmupFailed("warm-up request %s: the app never called start_response"
                           % line)
    return answered[0]
