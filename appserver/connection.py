"""One client connection: the only code in the request path that does socket I/O.

A ``Connection`` owns the client socket and its sans-I/O ``RequestParser``;
a ``UwsgiConnection`` (``--protocol uwsgi``) its ``UwsgiParser``. The class
also names the ``build_environ`` that matches its requests.
The worker's event loop calls ``fill()`` when the socket is readable (it never
blocks there); while the app runs, ``read_body()`` blocks for body bytes up to
``read-timeout`` (a Content-Length body goes from the socket to the app
without the parser's buffer) and ``sendall()`` for the response up to
``send-timeout``.

A plain socket stays blocking at the Python level: CPython polls before every
call on a socket with a timeout, two extra system calls per request. Loop reads
pass ``MSG_DONTWAIT``; the timeouts are the kernel's (``SO_RCVTIMEO``,
``SO_SNDTIMEO``, set on first use), so a blocked call fails with ``EAGAIN``
once the client has sent or accepted nothing for that long. TLS sockets use
Python-level timeouts (an ``SSLSocket`` cannot tell a kernel timeout from a
record still in flight).
``start_closing()`` sends an error response, half-closes the socket, and
leaves the worker loop to discard a bounded amount of further input before
closing, so the client reads the response instead of a reset.

Before the first request a connection may have to pass, in the worker loop and
without blocking it: ``read_proxy_header()`` (PROXY protocol; reads exactly the
header, nothing after it) and ``handshake()`` after ``start_tls()``. With TLS,
``fill()`` reads without blocking (a partial record must not stall the loop);
``sendfile()`` is done by the ssl module with reads and sends. The ``ssl``
module is imported by the TLS paths only (``appserver.tls``).
"""

import os
import socket
import struct

from appserver.http.errors import IncompleteRequest, RequestTimeout
from appserver.http.parser import NEED_DATA, Data, EndOfMessage, RequestParser
from appserver import uwsgi
from appserver.wsgi.environ import build_environ
from appserver.http import writer
from appserver import proxy_protocol
from appserver.tls import ssl_module

RECV_SIZE = 65536
_DONTWAIT = socket.MSG_DONTWAIT
_WAITALL = socket.MSG_WAITALL
_SO_RCVTIMEO, _SO_SNDTIMEO = socket.SO_RCVTIMEO, socket.SO_SNDTIMEO
DRAIN_LIMIT = 65536          # bytes discarded after an error response at most

# States, as the worker loop sees them.
HEAD, IDLE, BUSY, CLOSING = "head", "idle", "busy", "closing"
PROXY_HEADER, HANDSHAKE, HANDSHAKE_OUT = "proxy-header", "handshake", "handshake-out"


class ClientError(OSError):
    """The client went away or stopped reading or sending: nobody to answer."""


class ClientTimeout(ClientError):
    """The client stopped sending or receiving for longer than allowed."""


class BodyTimeout(ClientTimeout):
    """The client stopped sending its request body (``read-timeout``)."""


class Connection:
    """A client socket, its parser, its state and its current deadline."""

    parser_class = RequestParser                    # the protocol: how requests
    build_environ = staticmethod(build_environ)     # are read, and their environ
    __slots__ = ("sock", "fd", "peer", "listener", "parser", "state", "deadline",
                 "drained", "read_timeout", "send_timeout", "_timeout", "received",
                 "base", "tls", "preface", "_kernel")

    def __init__(self, sock, peer, listener, limits, read_timeout, send_timeout,
                 inherited=0):
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.listener = listener
        self.parser = self.parser_class(limits)
        self.state = IDLE
        self.deadline = 0.0
        self.drained = 0
        self.read_timeout = read_timeout
        self.send_timeout = send_timeout
        self._timeout = None        # the Python-level timeout (TLS only)
        self._kernel = inherited    # SO_RCVTIMEO | SO_SNDTIMEO bits set so far
        self.received = 0           # bytes read since the metrics last took them
        self.base = None                # the environ base of its listener
        self.tls = False
        self.preface = b""

    def fill(self):
        """Read what the socket has (it is readable) into the parser.

        Returns False when the peer closed or reset the connection.
        """
        try:
            data = self._recv_tls() if self.tls else self.sock.recv(RECV_SIZE, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b""
        self.received += len(data)
        self.parser.feed(data)
        return bool(data)

    def _recv_tls(self):
        """What a TLS socket has; ``BlockingIOError`` when a record is partial."""
        ssl = ssl_module()
        self._set_timeout(0.0)
        try:
            return self.sock.recv(RECV_SIZE)
        except (socket.timeout, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise BlockingIOError from None

    def fill_waiting(self):
        """Read what the socket holds right now, without waiting (plain
        sockets only); True if anything (bytes or EOF) was read."""
        try:
            data = self.sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        self.received += len(data)
        self.parser.feed(data)
        return True

    def _set_timeout(self, timeout):
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def _blocking_for(self, option, seconds):
        """Ready the socket for a blocking call bounded by ``seconds``."""
        if self.tls:
            self._set_timeout(seconds)
        elif not self._kernel & option:
            self.sock.setsockopt(socket.SOL_SOCKET, option, _timeval(seconds))
            self._kernel |= option

    def read_body(self, size=None):
        """The next piece of the current request's body; ``b""`` at its end.

        ``size`` is how many bytes the caller needs (None: whatever comes
        next). Bytes of a Content-Length body that the parser need not see
        (it holds nothing) are received for the caller directly and only
        counted by the parser, not copied through its buffer; with a
        ``size``, the receive waits for all of them (``MSG_WAITALL``, bounded
        by ``read-timeout``: a timeout after some bytes returns those)."""
        parser = self.parser
        while True:
            room = parser.body_room()
            if room:
                if size is None:
                    data = self._recv_body(min(room, RECV_SIZE))
                else:
                    data = self._recv_body(min(room, size), 0 if self.tls else _WAITALL)
                if data:
                    parser.took_body(len(data))
                    return data
                parser.feed(data)       # closed mid-body: the parser says so
            event = parser.next_event()
            if event is NEED_DATA:
                parser.feed(self._recv_body(RECV_SIZE))
            elif type(event) is Data:
                return event.data
            elif type(event) is EndOfMessage:
                return b""
            else:
                raise IncompleteRequest("unexpected %s while reading a body"
                                        % type(event).__name__)

    def _recv_body(self, size, flags=0):
        """Body bytes from the socket, waiting up to ``read-timeout``."""
        self._blocking_for(_SO_RCVTIMEO, self.read_timeout)
        try:
            data = self.sock.recv(size, flags)
        except (socket.timeout, BlockingIOError):
            raise BodyTimeout("client sent no body bytes for %s s "
                              "(read-timeout)" % self.read_timeout) from None
        except OSError as exc:
            raise ClientError("reading the body: %s" % exc) from None
        self.received += len(data)
        return data

    def discard_body(self, limit):
        """Skip the rest of the body; False if more than ``limit`` bytes remain."""
        if self.parser.skip_empty_body():
            return True
        skipped = 0
        while True:
            data = self.read_body()
            if not data:
                return True
            skipped += len(data)
            if skipped > limit:
                return False

    def sendall(self, data):
        """Send bytes; raises ``ClientTimeout`` or ``OSError`` when it cannot."""
        if self.tls or not self._kernel & _SO_SNDTIMEO:
            self._blocking_for(_SO_SNDTIMEO, self.send_timeout)
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise self._send_error(exc, "the response") from None

    def send_parts(self, parts):
        """Send a list of bytes objects in order, as ``sendall`` does, but
        without joining them first: one ``sendmsg`` gathers them (a large
        body piece is not copied to put its chunk framing around it)."""
        if self.tls:
            return self.sendall(b"".join(parts))
        self._blocking_for(_SO_SNDTIMEO, self.send_timeout)
        try:
            self._sendmsg_all(parts)
        except OSError as exc:
            raise self._send_error(exc, "the response") from None

    def _sendmsg_all(self, parts):
        sent = self.sock.sendmsg(parts)
        for part in parts:          # the rest, if a signal or SO_SNDTIMEO cut it short
            if sent >= len(part):
                sent -= len(part)
                continue
            self.sock.sendall(memoryview(part)[sent:])
            sent = 0

    def _send_error(self, exc, what):
        """The ``ClientError`` for an ``OSError`` raised while sending."""
        if isinstance(exc, (socket.timeout, BlockingIOError)):
            return ClientTimeout("client read nothing for %s s (send-timeout)"
                                 % self.send_timeout)
        return ClientError("sending %s: %s" % (what, exc))

    def sendfile(self, fileobj, offset, count):
        """Send ``count`` bytes of a real file from ``offset``; returns bytes sent."""
        self._blocking_for(_SO_SNDTIMEO, self.send_timeout)
        try:
            if self.tls:
                return self.sock.sendfile(fileobj, offset, count)
            return self._sendfile(fileobj.fileno(), offset, count)
        except OSError as exc:
            raise self._send_error(exc, "a file") from None

    def _sendfile(self, file_fd, offset, count):
        """``os.sendfile`` until ``count`` bytes are sent or the file ends."""
        sent, fd = 0, self.fd
        while sent < count:
            try:
                n = os.sendfile(fd, file_fd, offset + sent, count - sent)
            except InterruptedError:
                continue
            if not n:
                break
            sent += n
        return sent

    def send_continue(self):
        """``100 Continue``, before the app's first read of the body."""
        self.sendall(writer.CONTINUE)

    def start_closing(self, error=None):
        """Answer ``error`` (an ``HTTPError``) if given, then half-close.

        The caller keeps polling the socket and calls ``drain()`` when it is
        readable, until it returns False, then ``close()``.
        """
        self.state = CLOSING
        try:
            if error is not None:
                self.sock.setblocking(False)
                self.sock.send(writer.error_response(error.status, error.reason,
                                                     error.detail))
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        return True

    def drain(self):
        """Discard readable input; False once the peer closed or the bound is hit."""
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        self.drained += len(data)
        return bool(data) and self.drained < DRAIN_LIMIT

    def read_proxy_header(self):
        """A ``ProxyHeader`` once complete, else None; never reads past it.

        Raises ``ProxyProtocolError`` (also when the peer closes first) or
        ``OSError``.
        """
        data = self.sock.recv(proxy_protocol.MAX_LENGTH, socket.MSG_PEEK)
        if not data:
            raise proxy_protocol.ProxyProtocolError("closed before a PROXY header")
        result = proxy_protocol.parse(self.preface + data)
        take = len(data) if result is proxy_protocol.NEED_DATA \
            else result[1] - len(self.preface)
        while take:                     # peeked bytes are there: no waiting
            chunk = self.sock.recv(take)
            if not chunk:
                raise proxy_protocol.ProxyProtocolError("closed in a PROXY header")
            self.preface += chunk
            take -= len(chunk)
        if result is proxy_protocol.NEED_DATA:
            return None
        self.preface = b""
        return result[0]

    def start_tls(self, context):
        """Wrap the socket; ``handshake()`` is then driven by the worker loop."""
        self.sock = context.wrap_socket(self.sock, server_side=True,
                                        do_handshake_on_connect=False)
        self.tls = True

    def handshake(self):
        """Advance the TLS handshake without blocking.

        Returns None when done, ``"read"`` or ``"write"`` for what it waits
        on; raises ``OSError`` (``ssl.SSLError``) when it fails.
        """
        ssl = ssl_module()
        self._set_timeout(0.0)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            return "read"
        except ssl.SSLWantWriteError:
            return "write"
        return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _timeval(seconds):
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


def prepare_listener(listener, read_timeout, send_timeout):
    """Set on a TCP listening socket what every accepted socket inherits
    from it on Linux (``TCP_NODELAY`` and the kernel timeouts): no system
    call per connection for them. Returns the ``inherited`` bits to give
    each ``Connection`` accepted from it (0 for a unix socket, whose
    accepted sockets inherit nothing)."""
    if listener.kind != "tcp":
        return 0
    sock = listener.sock
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVTIMEO, _timeval(read_timeout))
    sock.setsockopt(socket.SOL_SOCKET, _SO_SNDTIMEO, _timeval(send_timeout))
    return _SO_RCVTIMEO | _SO_SNDTIMEO


def timeout_error():
    """The error sent to a client whose request head did not arrive in time."""
    return RequestTimeout("the request head did not arrive within header-timeout")


def file_size(fileobj):
    """Size of a real file, or None when ``fileobj`` has no usable descriptor."""
    try:
        return os.fstat(fileobj.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


class UwsgiConnection(Connection):
    """A connection speaking the uwsgi protocol (``appserver.uwsgi``): one
    request, then closed; a malformed packet is closed without an answer."""

    __slots__ = ()
    parser_class = uwsgi.UwsgiParser
    build_environ = staticmethod(uwsgi.build_environ)

    def start_closing(self, error=None):
        if isinstance(error, uwsgi.PacketError):
            error = None
        return super().start_closing(error)
