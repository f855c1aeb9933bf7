"""Around each request in a worker: request id, access log, metrics, hooks.

A worker makes one ``RequestObserver``. ``wsgi.handler.handle`` calls
``started(request, environ, response)`` once the environ is built (the request
id goes into ``environ['appserver.request_id']``, never into an ``HTTP_``
key: those are what the client sent; and into the response head when
``request-id-header`` is set; then the ``pre_request`` hook), and
``finished(conn, request, environ, response, duration)`` after the response
(the access log line, the metric counters, the ``post_request`` hook). The
worker calls ``rejected(conn, error, sent, body)`` for a request the server
answered itself with an error (400, 408, 413, 431, ...), once the answer was
sent (``sent`` bytes, ``body`` of them its body's, as
``Connection.reject`` returns them): it gets an access line and is counted
too; ``abandoned(...)`` for a request answered by a threaded worker's loop
after its thread ran past ``timeout``; and ``static(conn, request, reply,
duration, build_environ)`` once a static file answered by the loop is sent
(an access line whose environ, made by the protocol's builder, has
``appserver.static``, the counters; no hooks: the app is not involved). Work
skipped when unused: no
access line is formatted when the log is off, no hook is looked up per call.

``rejected_environ(peer, head)`` is the environ-like dict such a line is made
from: the peer, and the request line's parts when the head has one.
``log_stack(frame, in_app)`` logs a slow request's stack from the app call on.
"""

import logging
import os
import traceback

from appserver.config import hooks
from appserver.wsgi.proxy import AllowList
from appserver.observe.requestid import RequestIds, new_id

log = logging.getLogger("appserver")

REQUEST_ID = "appserver.request_id"
STATIC = "appserver.static"     # "static" in the access-log environ of such a request
_HEAD_PEEK = 2048


class RequestObserver:
    """See the module comment; ``counters`` is the slot's ``metrics.Counters``."""

    def __init__(self, cfg, access_log, counters, worker=None):
        self.access_log = access_log
        self.log_on = access_log.enabled
        self.counters = counters
        self.ids = RequestIds(AllowList(cfg.forwarded_allow_ips))
        self.echo = cfg.request_id_header
        self.hooks = cfg.hooks
        self.pre = "pre_request" in cfg.hooks
        self.post = "post_request" in cfg.hooks
        self.worker = worker

    def started(self, request, environ, response):
        rid = environ.get("HTTP_X_REQUEST_ID")
        rid = new_id() if rid is None else self.ids.choose(rid, environ["REMOTE_ADDR"])
        environ[REQUEST_ID] = rid
        if self.echo:
            response.extra_header(self.echo, rid)
        if self.pre:
            hooks.pre_request(self.hooks, self.worker, request, environ)

    def finished(self, conn, request, environ, response, duration):
        status = response.code or 500
        if self.log_on:
            self.access_log.write(environ, status, response.body_sent, duration,
                                  response)
        received, conn.received = conn.received, 0
        self.counters.record(request.method, status, duration, received, response.sent)
        if self.post:
            hooks.post_request(self.hooks, self.worker, request, environ, response)

    def static(self, conn, request, reply, duration, build_environ):
        if self.log_on:
            environ = build_environ(conn.base, request, conn.peer, None)
            environ[STATIC] = "static"
            rid = environ.get("HTTP_X_REQUEST_ID")
            environ[REQUEST_ID] = new_id() if rid is None else self.ids.choose(
                rid, environ["REMOTE_ADDR"])
            self.access_log.write(environ, reply.status,
                                  max(0, reply.sent - len(reply.head)), duration)
        received, conn.received = conn.received, 0
        self.counters.record(request.method, reply.status, duration, received, reply.sent)

    def abandoned(self, conn, request, environ, status, body, sent, duration):
        """A request the worker's loop answered for after its thread ran past
        ``timeout`` (``worker.threads``): the access line and the counters;
        no hook, the app still holds the request. ``environ`` is None when
        the thread had not built it yet."""
        if environ is None:
            environ = rejected_environ(conn.peer, request.line.encode("latin-1"))
            environ[REQUEST_ID] = new_id()
        if self.log_on:
            self.access_log.write(environ, status, body, duration)
        received, conn.received = conn.received, 0
        self.counters.record(request.method, status, duration, received, sent)

    def rejected(self, conn, error, sent, body):
        environ = rejected_environ(conn.peer, conn.parser.peek(_HEAD_PEEK))
        environ[REQUEST_ID] = new_id()
        if self.log_on:
            self.access_log.write(environ, error.status, body, 0.0)
        received, conn.received = conn.received, 0
        self.counters.record(environ.get("REQUEST_METHOD"), error.status, 0.0,
                             received, sent)


def rejected_environ(peer, head):
    """What is known of a request refused before it was parsed."""
    environ = {"REMOTE_ADDR": peer[0] if peer else ""}
    if peer:
        environ["REMOTE_PORT"] = str(peer[1])
    line = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.decode("latin-1").split(" ")
    if len(parts) == 3 and parts[0]:
        method, target, version = parts
        path, _, query = target.partition("?")
        environ.update(REQUEST_METHOD=method, RAW_URI=target, PATH_INFO=path,
                       QUERY_STRING=query, SERVER_PROTOCOL=version)
    return environ


def log_stack(frame, in_app):
    """Log the stack of the request running in ``frame``, from the app call on
    (the worker's ``slow-request`` signal handler)."""
    if not in_app:
        log.warning("Worker %d: the slow request finished before its stack could "
                    "be taken", os.getpid())
        return
    from appserver.wsgi import handler
    stack = traceback.extract_stack(frame)
    starts = [i for i, f in enumerate(stack)
              if f.filename == handler.handle.__code__.co_filename]
    del stack[:starts[-1] + 1 if starts else 0]
    log.warning("Worker %d: stack of the slow request (still running):\n%s",
                os.getpid(), "".join(traceback.format_list(stack)).rstrip())
