"""The admin listener: a tiny HTTP endpoint served by the arbiter itself.

Never served by an app worker, so it answers while every worker is busy or
stuck. ``AdminServer`` owns a listening socket and its few client
connections; the arbiter's loop polls ``fds()`` and calls ``readable(fd)``.
Each connection carries one ``GET`` (parsed by the project's own sans-I/O
parser), gets one response with ``Connection: close``, and is closed; a
connection that has not sent its request within ``CLIENT_DEADLINE`` seconds is
dropped. Routes map a path to a callable returning ``(status, content_type,
body)``; a ``HEAD`` gets the head alone. A request the parser refuses is
answered by ``http.errors.error_bytes``, as the workers answer it.
"""

import logging
import time

from appserver.http import writer
from appserver.http.errors import HTTPError, error_bytes
from appserver.http.parser import NEED_DATA, Request, RequestParser

log = logging.getLogger("appserver")

CLIENT_DEADLINE = 5.0
MAX_CLIENTS = 64
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
            503: "Service Unavailable"}


class AdminServer:
    """Admin routes on one listening socket, driven by the arbiter's loop."""

    def __init__(self, listener, routes):
        self.listener = listener
        self.routes = routes
        self.clients = {}           # fd -> (socket, parser, deadline)

    def fds(self):
        return [self.listener.fileno()] + list(self.clients)

    def readable(self, fd):
        if fd == self.listener.fileno():
            self._accept()
        elif fd in self.clients:
            self._read(fd)

    def sweep(self, now):
        for fd in [fd for fd, c in self.clients.items() if c[2] <= now]:
            self._drop(fd)

    def close(self, listener_too=False):
        for fd in list(self.clients):
            self._drop(fd)
        if listener_too:
            self.listener.sock.close()

    def _accept(self):
        try:
            sock, _ = self.listener.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("admin listener: accept() failed: %s", exc)
            return
        if len(self.clients) >= MAX_CLIENTS:
            sock.close()
            return
        sock.setblocking(False)
        self.clients[sock.fileno()] = (sock, RequestParser(),
                                       time.monotonic() + CLIENT_DEADLINE)

    def _read(self, fd):
        sock, parser, _ = self.clients[fd]
        try:
            data = sock.recv(8192)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        parser.feed(data)
        try:
            event = parser.next_event()
        except HTTPError as err:
            self._send(fd, error_bytes(err, err.head_only))
            return
        if event is NEED_DATA:
            return
        if type(event) is Request:
            self._respond(fd, *self._route(event), head_only=event.method == "HEAD")
        else:
            self._drop(fd)

    def _route(self, request):
        if request.method not in ("GET", "HEAD"):
            return 405, "text/plain", b"only GET and HEAD\n"
        handler = self.routes.get(request.path)
        if handler is None:
            return 404, "text/plain", ("no such page; try %s\n" % ", ".join(
                sorted(self.routes))).encode()
        return handler()

    def _respond(self, fd, status, content_type, body, head_only=False):
        lines = ("Content-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n"
                 "Cache-Control: no-store\r\n" % (content_type, len(body)))
        status_line = "%d %s" % (status, _REASONS.get(status, ""))
        head = writer.head(status_line.encode("latin-1"), lines.encode("latin-1"))
        self._send(fd, head if head_only else head + body)

    def _send(self, fd, data):
        """Send a whole answer (bounded by a second), then close."""
        sock = self.clients[fd][0]
        try:
            sock.settimeout(1.0)
            sock.sendall(data)
        except OSError:
            pass
        self._drop(fd)

    def _drop(self, fd):
        sock = self.clients.pop(fd)[0]
        try:
            sock.close()
        except OSError:
            pass


def bind_admin(address, backlog=64):
    """Bind the admin listener from a ``bind``-style address string."""
    from appserver.config.loading import parse_bind
    from appserver.net.sockets import bind_all
    return bind_all([parse_bind(address)], backlog)[0]
