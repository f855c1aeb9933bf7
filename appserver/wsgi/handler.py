"""Serve one parsed request: environ, the app call, the response, the cleanup.

``handle()`` runs the application synchronously for a request whose head is
complete, sends its response through the connection, calls the iterable's
``close()`` exactly once (also when the client went away), writes the access
log line, and skips any unread body. It returns whether the connection may
carry another request. Errors from the app become a 500 when no header has
been sent yet, and a closed connection otherwise; both are logged. While a
body that ends with the connection is under way, any close of it is a reset
(``conn.abort``), also if the worker dies: a clean close would look like its
end. A server-made answer to a ``HEAD`` request has no body. The
``observer`` (``appserver.observe.observer.RequestObserver``) is told when the environ
is ready and when the response is done (request id, access log, metrics).

With ``loop_send``, a ``wsgi.file_wrapper`` over a real file that makes up the
whole declared body is not sent inside the call: ``handle`` sends the head
and returns a ``FileSend``, which the caller's loop sends without blocking
(``Connection.send_static``). The request ends when the ``FileSend`` is
closed, however its sending ended (all sent, the client gone, send-timeout,
the worker stopping): then the iterable's ``close()`` is called, once, and
the observer is told, and then its ``ended`` callback.
"""
from __future__ import annotations

import functools
import logging
import time
from typing import IO, TYPE_CHECKING, Callable, Iterable, Optional, Protocol, Union

from appserver.net.connection import (
    BodyTimeout, ClientError, ClientTimeout, Connection, file_size,
)
from appserver.http.errors import (GatewayTimeout, HTTPError, InternalServerError,
                                   RequestTimeout)
from appserver.http.parser import Request
from appserver.wsgi.environ import Environ, build_environ
from appserver.wsgi.input import EMPTY, Input
from appserver.wsgi.response import FileWrapper, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger("appserver")

UNREAD_BODY_LIMIT = 1 << 20     # skip up to this much unread body to keep alive


class Observer(Protocol):
    """What ``handle`` tells of each request (``appserver.observe.observer.RequestObserver``)."""

    def started(self, request: Request, environ: Environ, response: Response) -> None: ...

    def finished(self, conn: Connection, request: Request, environ: Environ,
                 response: Response, duration: float) -> None: ...


class FileSend:
    """The rest of a response, a file range, that the caller's loop sends
    (shaped as the static reply ``Connection.send_static`` sends: no bytes
    left (``data``), ``count`` bytes of ``file`` from ``offset``; ``sent``
    counts what went out). ``keep``: whether the connection may carry
    another request once it is out. ``close()`` ends the request (see the
    module comment); ``ended(self)`` is then called, once."""

    __slots__ = ("head", "data", "file", "offset", "count", "sent", "note", "keep",
                 "ended", "_result", "_done")

    def __init__(self, result: Iterable[bytes], fileobj: IO[bytes], offset: int,
                 count: int) -> None:
        self.head = self.data = b""
        self.file: Optional[IO[bytes]] = fileobj
        self.offset, self.count, self.sent = offset, count, 0
        self.note = None            # not a static reply: nothing for the loop to log
        self.keep = False
        self.ended: Callable[[FileSend], object] = lambda sent: None
        self._result: Optional[Iterable[bytes]] = result
        self._done: Callable[[FileSend], None] = lambda sent: None

    def close(self) -> None:
        """The sending ended: close the iterable, tell the observer; once."""
        result, self._result = self._result, None
        if result is None:
            return
        self.file = None            # the iterable's close() closes it, if it will
        try:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        except Exception:
            log.exception("Error closing the response iterable")
        finally:
            self._done(self)
            self.ended(self)


class WorkerTimeout(BaseException):
    """Raised inside the app when the arbiter says the request ran too long.

    A ``BaseException`` so that an app's ``except Exception`` cannot swallow it.
    ``handle`` answers 504 (if no header went out), logs the request, and
    raises it again so the worker exits and is replaced.
    """


def handle(conn: Connection, request: Request, app: WSGIApplication, base_environ: Environ,
           observer: Observer, rewrite: Optional[Callable[[Environ], object]] = None,
           started: Optional[float] = None,
           build_environ: Callable[..., Environ] = build_environ,
           loop_send: bool = False) -> Union[bool, FileSend]:
    """Run ``app`` for ``request`` on ``conn``; True if keep-alive may go on,
    or (only with ``loop_send``) a ``FileSend`` for the loop to send.

    ``rewrite(environ)`` (``proxy.Rewriter``) may adjust the environ for a
    trusted proxy first, or raise an ``HTTPError`` answered instead of the app.
    ``observer`` is told when the request starts and ends (access log, metrics).
    ``started`` is when the request was dispatched (``time.monotonic()``; now
    if not given). ``build_environ`` is the protocol's environ builder (the
    connection reads the protocol's requests; it knows no WSGI).
    """
    if started is None:
        started = time.monotonic()
    response = Response(conn.sendall, request.version, request.method,
                        request.keep_alive, conn.send_parts, conn.abort)
    if request.expect_continue:
        body = Input(conn.read_body, _continuer(conn, response), request.content_length)
    elif conn.skip_empty_body():
        body = EMPTY                # no body: nothing left for the parser either
    else:
        body = Input(conn.read_body, None, request.content_length)
    environ = build_environ(base_environ, request, conn.peer, body)
    observer.started(request, environ, response)
    timed_out = False
    later = None
    try:
        if rewrite is not None:
            rewrite(environ)
        result = app(environ, response.start_response)
        # A one-piece list or tuple (the common case) has no close(), and goes
        # with its length and the head in one send.
        if ((type(result) is list or type(result) is tuple) and len(result) == 1
                and response.status):
            response.write_whole(result[0])
        else:
            later = _send_closing(result, response, conn, loop_send)
        if conn.aborted:            # a close-delimited body went out whole:
            conn.abort(False)       # its end may be a clean close
    except WorkerTimeout:
        timed_out = True
        log.error("Request %s %s timed out after %.1f s; answering 504",
                  request.method, request.target, time.monotonic() - started)
        _fail(conn, response, GatewayTimeout())
    except BodyTimeout as exc:      # the client stopped sending its body
        log.info("client %s: %s", environ["REMOTE_ADDR"] or "unix", exc)
        _fail(conn, response, RequestTimeout(str(exc)))
    except ClientError as exc:      # the client went away or stopped reading
        log.log(logging.INFO if isinstance(exc, ClientTimeout) else logging.DEBUG,
                "client %s: %s", environ["REMOTE_ADDR"] or "unix", exc)
        response.keep_alive = False
    except HTTPError as exc:        # raised while the app read the body
        log.info("client %s: %s", environ["REMOTE_ADDR"] or "unix", exc.detail)
        _fail(conn, response, exc)
    except Exception:
        log.exception("Error handling request %s %s", request.method, request.target)
        _fail(conn, response, InternalServerError())   # what failed is in the log only
    if later is not None:
        later.keep = response.keep_alive and (body is EMPTY or
                                              _finish_body(conn, body, request))
        later._done = functools.partial(_file_sent, conn, request, environ, response,
                                        observer, started)
        return later
    observer.finished(conn, request, environ, response, time.monotonic() - started)
    if timed_out:
        raise WorkerTimeout()
    return response.keep_alive and (body is EMPTY or _finish_body(conn, body, request))


def _file_sent(conn: Connection, request: Request, environ: Environ, response: Response,
               observer: Observer, started: float, sent: FileSend) -> None:
    """A ``FileSend`` ended: the response's counts, then the observer."""
    response.body_sent += sent.sent
    response.sent += sent.sent
    if sent.count:
        response.keep_alive = False     # cut short: the connection is closed
    observer.finished(conn, request, environ, response, time.monotonic() - started)


def _continuer(conn: Connection, response: Response) -> Callable[[], None]:
    """``100 Continue`` on the first body read, unless the response has begun."""
    def send_continue() -> None:
        if not response.headers_sent:
            conn.send_continue()
    return send_continue


def _send_closing(result: Iterable[bytes], response: Response, conn: Connection,
                  loop_send: bool = False) -> Optional[FileSend]:
    """Send what the app returned; its ``close()`` is called whatever
    happens (by the ``FileSend`` returned, if the loop is to send the rest)."""
    later = None
    try:
        later = _send(result, response, conn, loop_send)
    finally:
        if later is None:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    return later


def _send(result: Iterable[bytes], response: Response, conn: Connection,
          loop_send: bool) -> Optional[FileSend]:
    if isinstance(result, FileWrapper):
        sent = _send_file(result, response, conn, loop_send)
        if isinstance(sent, FileSend):
            return sent
    else:
        sent = False
    if not sent:
        for data in result:
            if data or type(data) is not bytes:
                response.write(data)
    response.finish()
    return None


def _send_file(wrapper: FileWrapper, response: Response, conn: Connection,
               loop_send: bool) -> Union[bool, FileSend]:
    """Send a real file with ``sendfile``, or leave it to the loop (a
    ``FileSend``) when it is the whole declared body; False to fall back to
    iteration."""
    fileobj = wrapper.filelike
    size = file_size(fileobj)
    if size is None or response.status is None or response.headers_sent:
        return False
    try:
        offset = fileobj.tell()
    except (AttributeError, OSError):
        return False
    remaining = max(0, size - offset)
    response.set_length_if_unknown(remaining)
    count = remaining if response.length is None else min(remaining, response.length)
    response.write(b"")             # the head
    if response.no_body or not count:
        return True
    if loop_send and count == response.length:
        return FileSend(wrapper, fileobj, offset, count)
    response.body_sent += conn.sendfile(fileobj, offset, count)
    response.sent += response.body_sent
    return True


def _fail(conn: Connection, response: Response, error: HTTPError) -> None:
    """Answer ``error`` (an ``HTTPError``) if nothing was sent yet; the
    connection closes either way, with a reset when the response sent so far
    would otherwise look complete (its body ends when the connection does)."""
    response.keep_alive = False
    if response.headers_sent:
        if response.close_delimited():
            conn.abort()
        return
    response.code = error.status
    try:
        response.sent += conn.send_error(error, response.head_only)
    except OSError:
        pass


def _finish_body(conn: Connection, body: Input, request: Request) -> bool:
    """Skip what the app left of the body, so the next request can be parsed."""
    if body.exhausted():
        return True
    has_body = request.chunked or request.content_length
    if has_body and request.expect_continue and not body.started():
        return False            # no 100 was sent: the client may not send it at all
    try:
        return conn.discard_body(UNREAD_BODY_LIMIT)
    except (ClientError, HTTPError):
        return False
