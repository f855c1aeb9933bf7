"""One client connection: the only code in the request path that does socket I/O.

A ``Connection`` owns the client socket and its sans-I/O ``RequestParser``;
a ``UwsgiConnection`` (``--protocol uwsgi``) its ``UwsgiParser``. The class
also names the ``build_environ`` that matches its requests.
The worker's event loop calls ``fill()`` when the socket is readable (it never
blocks there: loop reads pass ``MSG_DONTWAIT``); while the app runs,
``read_body()`` blocks for body bytes up to ``read-timeout`` (a Content-Length
body goes from the socket to the app without the parser's buffer) and
``sendall()`` for the response up to ``send-timeout``; how those bounds hold
is ``appserver.io_timeouts``. ``start_closing()`` sends an error response,
half-closes the socket, and leaves the worker loop to discard a bounded
amount of further input before closing, so the client reads the response
instead of a reset. What a connection passes before its first request (PROXY
header, TLS handshake) is ``appserver.connection_front``; with TLS,
``sendfile()`` is done by the ssl module with reads and sends.
"""

import os
import socket
import struct

from appserver.http.errors import IncompleteRequest, RequestTimeout
from appserver.http.parser import NEED_DATA, Data, EndOfMessage, RequestParser
from appserver import uwsgi
from appserver.wsgi.environ import build_environ
from appserver.http import writer
from appserver.connection_front import RECV_SIZE, FrontIO
from appserver.io_timeouts import (  # noqa: F401 (the errors are this module's too)
    BodyTimeout, BoundedIO, ClientError, ClientTimeout)

_DONTWAIT = socket.MSG_DONTWAIT
_WAITALL = socket.MSG_WAITALL
_SO_RCVTIMEO, _SO_SNDTIMEO = socket.SO_RCVTIMEO, socket.SO_SNDTIMEO
DRAIN_LIMIT = 65536          # bytes discarded after an error response at most
_LINGER_0 = struct.pack("ii", 1, 0)     # SO_LINGER on, 0 s: close() resets

# States, as the worker loop sees them.
HEAD, IDLE, BUSY, CLOSING = "head", "idle", "busy", "closing"
PROXY_HEADER, HANDSHAKE, HANDSHAKE_OUT = "proxy-header", "handshake", "handshake-out"


class Connection(FrontIO, BoundedIO):
    """A client socket, its parser, its state and its current deadline."""

    parser_class = RequestParser                    # the protocol: how requests
    build_environ = staticmethod(build_environ)     # are read, and their environ
    __slots__ = ("sock", "fd", "peer", "listener", "parser", "state", "deadline",
                 "drained", "read_timeout", "send_timeout", "_timeout", "received",
                 "base", "tls", "preface", "_kernel", "blocked_until", "_blocked_on",
                 "aborted")

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
        self.blocked_until = 0.0    # the bound of the blocking call under way (0: none)
        self._blocked_on = 0        # its option: SO_RCVTIMEO or SO_SNDTIMEO
        self.aborted = False        # closes with a reset (abort())

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
        except ClientError:         # overdue: raised by the worker's tick
            raise
        except (socket.timeout, BlockingIOError):
            raise self._body_timeout() from None
        except OSError as exc:
            raise ClientError("reading the body: %s" % exc) from None
        finally:
            self.blocked_until = 0.0
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
        self._blocking_for(_SO_SNDTIMEO, self.send_timeout)
        try:
            if self.tls:
                self.sock.sendall(data)     # each record within send-timeout
                return
            sent = self.sock.send(data)
            if sent < len(data):
                self._send_rest(memoryview(data)[sent:])
        except OSError as exc:
            raise self._send_error(exc, "the response") from None
        finally:
            self.blocked_until = 0.0

    def _send_rest(self, view):
        """Send all of ``view``; every bit of progress restarts the bound."""
        while view:
            self._blocking_for(_SO_SNDTIMEO, self.send_timeout)
            view = view[self.sock.send(view):]

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
        finally:
            self.blocked_until = 0.0

    def _sendmsg_all(self, parts):
        sent = self.sock.sendmsg(parts)
        for part in parts:          # the rest, if a signal or SO_SNDTIMEO cut it short
            if sent >= len(part):
                sent -= len(part)
                continue
            self._send_rest(memoryview(part)[sent:])
            sent = 0

    def _send_error(self, exc, what):
        """The ``ClientError`` for an ``OSError`` raised while sending."""
        if isinstance(exc, ClientError):        # overdue: raised by the worker's tick
            return exc
        if isinstance(exc, (socket.timeout, BlockingIOError)):
            return self._send_timeout()
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
        finally:
            self.blocked_until = 0.0

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
            self._blocking_for(_SO_SNDTIMEO, self.send_timeout)  # progress: anew
        return sent

    def send_continue(self):
        """``100 Continue``, before the app's first read of the body."""
        self.sendall(writer.CONTINUE)

    def abort(self):
        """Make ``close()`` reset the connection (SO_LINGER 0) instead of
        ending it cleanly: a response whose end is the connection's end was
        cut short, and the client must not take it for complete."""
        self.aborted = True
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
        except OSError:
            pass

    def start_closing(self, error=None):
        """Answer ``error`` (an ``HTTPError``) if given, then half-close.

        The caller keeps polling the socket and calls ``drain()`` when it is
        readable, until it returns False, then ``close()``. False (close at
        once) also for an aborted connection: a half-close would end it
        cleanly.
        """
        if self.aborted:
            return False
        self.state = CLOSING
        try:
            if error is not None:
                self.sock.setblocking(False)
                self.sock.send(writer.error_response(error.status, error.reason,
                                                     error.detail, error.head_only))
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

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


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
