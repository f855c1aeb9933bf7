"""One client connection: its state, the deadline of that state, its socket
and its parser. The only code in the request path that does socket I/O.

A ``Connection`` is in one ``State`` at a time, and only its own methods
change it; each state's deadline is set in one place (``_enter``), from the
moment the state began and the seconds ``Timeouts`` gives that state:

    FRONT       PROXY header and/or TLS handshake     header-timeout from accept
    AWAIT_HEAD  a request head is arriving            header-timeout (from accept,
                                                      or from its first byte)
    SERVING     the app holds the request             none here (read/send-timeout,
                                                      timeout: ``worker.longcall``)
    IDLE        keep-alive, between requests          keep-alive
    SENDING     a file going out from the loop        send-timeout from the last
                (static, or the app's file_wrapper)   progress
    DRAINING    skipping a body the app left unread   DRAIN_SECONDS, DRAIN_BYTES
    LINGERING   write side shut, discarding input     LINGER_SECONDS, LINGER_BYTES
    PASSED_ON   handed to another worker (final)
    CLOSED      socket closed (final)

The worker asks ``expired(now)`` and then calls ``expire()``, which ends the
state the way that state ends (a head still arriving gets the 408 from
``reject``); it never assigns a state or a deadline itself. Transitions:
``open`` (FRONT or AWAIT_HEAD), ``advance_front``, ``fill`` and
``fill_waiting`` (IDLE with bytes -> AWAIT_HEAD), ``next_request`` (->
SERVING, or closed at EOF), ``send_static`` and ``push`` (SERVING ->
SENDING -> as ``finished``), ``finished`` (-> IDLE, DRAINING, LINGERING or
CLOSED), ``skip_body`` (DRAINING -> IDLE or LINGERING), ``discard``
(LINGERING -> CLOSED), ``reject`` (a protocol error answered; ->
LINGERING), ``pass_on`` (-> PASSED_ON), ``resume`` (a connection received
from another worker takes up its state), ``say_goodbye`` (TLS close_notify)
and ``close``. An ``HTTPError`` becomes bytes in one place,
``http.errors.error_bytes``:
for ``reject``, and for ``send_error`` (an error inside an app call: 408,
500, 504, or one raised while the app read the body).

Reads in the loop never block (``MSG_DONTWAIT``); while the app runs,
``read_body()`` blocks for body bytes up to ``read-timeout`` (a Content-Length
body goes from the socket to the app without the parser's buffer) and
``sendall()`` for the response up to ``send-timeout``: the kernel's
``SO_RCVTIMEO``/``SO_SNDTIMEO`` on plain sockets (``io_timeouts``), restarted
by the handoff tick's signals, so ``overdue(now)`` tells the tick when a call
is past its bound. TLS sockets use Python-level timeouts. With TLS,
``sendfile()`` is done by the ssl module with reads and sends.

A static reply (``appserver.static.Reply``), or the rest of an app's
response that is a file (``appserver.wsgi.handler.FileSend``, shaped the
same), is sent by the loop without blocking: its head and short body, then
its file range with ``os.sendfile`` (reads and sends with TLS); what the
socket does not take at once waits in SENDING, with ``wants_write`` set, for
the loop's next ``push``. Ending it, whichever way, calls its ``close()``.
"""
from __future__ import annotations

import enum
import io
import logging
import os
import socket
import struct
import time
from typing import IO, TYPE_CHECKING, Any, Callable, List, Optional, Tuple, Union, cast

from appserver.http import proxy_protocol, uwsgi
from appserver.http import writer
from appserver.http.errors import (  # noqa: F401 (error_bytes: the answers' door)
    HTTPError, IncompleteRequest, RequestTimeout, error_bytes)
from appserver.http.parser import (
    CLOSED, NEED_DATA, Data, EndOfMessage, Limits, Request, RequestParser,
)
from appserver.net.io_timeouts import (  # noqa: F401 (the errors are this module's too)
    BodyTimeout, ClientError, ClientTimeout, timeval)
from appserver.net.tls import ssl_module

if TYPE_CHECKING:
    from ssl import SSLContext, SSLSocket

    from appserver.net.sockets import Listener

# The client's socket address ((address, port, ...)); "" on a unix socket.
Peer = Union[Tuple[Any, ...], str]
Parser = Union[RequestParser, uwsgi.UwsgiParser]
# A static reply (``appserver.static.reply.Reply``) and a worker's hand-off
# pair (``appserver.worker.handoff``) live in layers above this one: here
# they are what they are used as.
Reply = Any
Handoff = Any

log = logging.getLogger("appserver")

RECV_SIZE = 65536
# What the loop reads at a time while a head is awaited: most heads are well
# under 1 KiB, and what comes after a head (a body's start) is copied into
# the parser and out again, where a body read takes the rest straight from
# the socket; a bigger head, or pipelined heads, take a few more reads.
HEAD_RECV_SIZE = 16384
DRAIN_SECONDS = 2.0         # how long an unread body may be skipped in the loop
DRAIN_BYTES = 1 << 20       # and how much of it, before a lingering close
LINGER_SECONDS = 2.0        # how long a closing connection's input is discarded
LINGER_BYTES = 8 << 20      # and how much of it
_DONTWAIT = socket.MSG_DONTWAIT
_WAITALL = socket.MSG_WAITALL
_SO_RCVTIMEO, _SO_SNDTIMEO = socket.SO_RCVTIMEO, socket.SO_SNDTIMEO
_NEVER = float("inf")
_LINGER_0 = struct.pack("ii", 1, 0)     # SO_LINGER on, 0 s: close() resets
_LINGER_OFF = struct.pack("ii", 0, 0)   # the default: close() ends cleanly


class State(enum.Enum):
    FRONT = "front"
    AWAIT_HEAD = "await-head"
    SERVING = "serving"
    IDLE = "idle"
    SENDING = "sending"
    DRAINING = "draining"
    LINGERING = "lingering"
    PASSED_ON = "passed-on"
    CLOSED = "closed"


FRONT, AWAIT_HEAD, SERVING, IDLE = State.FRONT, State.AWAIT_HEAD, State.SERVING, State.IDLE
DRAINING, LINGERING, PASSED_ON = State.DRAINING, State.LINGERING, State.PASSED_ON
SENDING = State.SENDING
CLOSED_STATE = State.CLOSED
BETWEEN_REQUESTS = frozenset((AWAIT_HEAD, IDLE))    # what can move to another worker


class Timeouts:
    """Seconds each state may last, shared by a worker's connections."""

    __slots__ = ("by_state",)

    def __init__(self, header: float = 30.0, keep_alive: float = 2.0,
                 drain: float = DRAIN_SECONDS, linger: float = LINGER_SECONDS,
                 send: float = 30.0) -> None:
        # Keyed by the states' values: an Enum member hashes in Python, its
        # value (a str) in C, and this lookup runs twice per request.
        self.by_state = {FRONT.value: header, AWAIT_HEAD.value: header,
                         IDLE.value: keep_alive, DRAINING.value: drain,
                         LINGERING.value: linger, SENDING.value: send,
                         SERVING.value: _NEVER,
                         PASSED_ON.value: _NEVER, CLOSED_STATE.value: _NEVER}


class Front:
    """What a worker's new connections pass before their first head: a PROXY
    header from an allowed peer (``proxy_peers``, None: off) and a TLS
    handshake (``tls``, an ``ssl.SSLContext`` or None)."""

    __slots__ = ("tls", "proxy_peers")

    def __init__(self, tls: Optional[SSLContext] = None,
                 proxy_peers: Optional[Any] = None) -> None:
        self.tls, self.proxy_peers = tls, proxy_peers


_DEFAULT_TIMEOUTS = Timeouts()
_NO_FRONT = Front()


class Connection:
    """A client socket, its parser, its state and that state's deadline."""

    # the protocol: how requests are read
    parser_class: Callable[[Limits], Parser] = RequestParser
    __slots__ = ("sock", "fd", "peer", "listener", "parser", "state", "since",
                 "deadline", "timeouts", "front", "wants_write", "discarded",
                 "read_timeout", "send_timeout", "_timeout", "received", "base",
                 "tls", "preface", "_kernel", "blocked_until", "_blocked_on",
                 "aborted", "body_left", "outgoing", "_keep", "_pending", "dest")

    def __init__(self, sock: socket.socket, peer: Peer, listener: Listener, limits: Limits,
                 read_timeout: float, send_timeout: float, inherited: int = 0,
                 timeouts: Timeouts = _DEFAULT_TIMEOUTS, front: Front = _NO_FRONT) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.listener = listener
        self.parser: Parser = self.parser_class(limits)
        self.timeouts = timeouts.by_state
        self.front = front
        self.wants_write = False    # FRONT: the handshake waits to write
        self.discarded = 0          # DRAINING, LINGERING: bytes thrown away
        self.read_timeout = read_timeout
        self.send_timeout = send_timeout
        self._timeout: Optional[float] = None   # the Python-level timeout (TLS only)
        self._kernel = inherited    # SO_RCVTIMEO | SO_SNDTIMEO bits set so far
        self.received = 0           # bytes read since the metrics last took them
        self.base: Any = None       # the environ base of its listener
        self.tls = False
        self.preface = b""
        self.blocked_until = 0.0    # the bound of the blocking call under way (0: none)
        self._blocked_on = 0        # its option: SO_RCVTIMEO or SO_SNDTIMEO
        self.aborted = False        # closes with a reset (abort())
        self.body_left = False      # SERVING: the app left body bytes still to come
        self.outgoing: Reply = None     # SENDING: the static reply going out
        self._keep = False          # SENDING: keep-alive once it is out
        self._pending = b""         # SENDING: bytes before the rest of the file
        self.dest: Optional[Tuple[str, int]] = None  # (ip, port) the PROXY header says was dialled
        self._enter(IDLE, 0.0)

    def __repr__(self) -> str:
        return "<Connection fd=%d %s>" % (self.fd, self.state.value)

    # -- the state and its deadline ------------------------------------------

    def _enter(self, state: State, since: float) -> None:
        """The one place a state and its deadline are set."""
        self.state = state
        self.since = since
        self.deadline = since + self.timeouts[state._value_]

    def expired(self, now: float) -> bool:
        """True once the current state has lasted longer than it may."""
        return now >= self.deadline

    def expire(self) -> Optional[HTTPError]:
        """End the current state at its deadline. Returns the ``HTTPError``
        to ``reject`` with (a head partly received), or None: then the
        connection is closed, or lingering after DRAINING."""
        if self.state is AWAIT_HEAD and self.parser.buffered:
            error = RequestTimeout("the request head did not arrive within header-timeout")
            # A HEAD request's answer has no body, even when its head is cut.
            error.head_only = (self.parser.pending_head() or b"")[:5] == b"HEAD "
            return error
        if self.state is DRAINING:
            self.linger(time.monotonic())
        elif self.state is SENDING:
            log.info("client %s: %s", self.name, self._send_timeout())
            self.abort()                # a response cut short: never seen as whole
            self.close()
        else:
            self.close()
        return None

    @property
    def unread(self) -> int:
        """Bytes received and not yet consumed by a request."""
        return self.parser.buffered

    @property
    def open(self) -> bool:
        return self.state is not CLOSED_STATE and self.state is not PASSED_ON

    # -- before the first request --------------------------------------------

    def start(self, now: float) -> bool:
        """A new connection's first state: FRONT when a PROXY header or a TLS
        handshake comes first, else AWAIT_HEAD. False (and closed) if refused."""
        front = self.front
        if front.proxy_peers is not None:
            if (self.peer[0] if self.peer else "") not in front.proxy_peers:
                log.info("client %s: not in proxy-allow-ips; closed", self.name)
                self.close()
                return False
            self._enter(FRONT, now)
            return True
        if front.tls is not None:
            return self._start_tls(now, front.tls)
        self._enter(AWAIT_HEAD, now)
        return True

    def _start_tls(self, now: float, context: SSLContext) -> bool:
        try:
            self.sock = context.wrap_socket(self.sock, server_side=True,
                                            do_handshake_on_connect=False)
        except OSError as exc:
            log.info("client %s: %s; closed", self.name, exc)
            self.close()
            return False
        self.tls = True
        self._enter(FRONT, now)
        return True

    def advance_front(self) -> None:
        """Take the next FRONT step with what has arrived, never blocking:
        the PROXY header, then the TLS handshake. Ends in AWAIT_HEAD (still
        counted from the accept) or closed; ``wants_write`` says which way
        the handshake waits."""
        if not self.tls:
            if not self._proxy_step():
                return
            if self.front.tls is not None:
                if not self._start_tls(self.since, self.front.tls):
                    return
            else:
                self._enter(AWAIT_HEAD, self.since)
                return
        self._handshake_step()

    def _proxy_step(self) -> bool:
        try:
            header = self._read_proxy_header()
        except (proxy_protocol.ProxyProtocolError, OSError) as exc:
            log.info("client %s: %s; closed", self.name, exc)
            self.close()
            return False
        if header is None:
            return False
        if header.source is not None and header.dest is not None:     # both or neither
            self.peer = header.source
            self._proxied_to(header.dest)
        return True

    def _proxied_to(self, dest: Tuple[str, int]) -> None:
        """The address the PROXY header says the client dialled: the
        environ's SERVER_NAME and SERVER_PORT. A hand-off carries it along."""
        self.dest = dest
        self.base = dict(self.base, SERVER_NAME=dest[0], SERVER_PORT=str(dest[1]))

    def _read_proxy_header(self) -> Optional[proxy_protocol.ProxyHeader]:
        """A ``ProxyHeader`` once complete, else None; never reads past it."""
        data = self.sock.recv(proxy_protocol.MAX_LENGTH, socket.MSG_PEEK)
        if not data:
            raise proxy_protocol.ProxyProtocolError("closed before a PROXY header")
        result = proxy_protocol.parse(self.preface + data)
        done = result if isinstance(result, tuple) else None    # else NEED_DATA
        take = len(data) if done is None else done[1] - len(self.preface)
        while take:                     # peeked bytes are there: no waiting
            chunk = self.sock.recv(take)
            if not chunk:
                raise proxy_protocol.ProxyProtocolError("closed in a PROXY header")
            self.preface += chunk
            take -= len(chunk)
        if done is None:
            return None
        self.preface = b""
        return done[0]

    def _handshake_step(self) -> None:
        ssl = ssl_module()
        self._set_timeout(0.0)
        try:
            cast("SSLSocket", self.sock).do_handshake()
        except ssl.SSLWantReadError:
            self.wants_write = False
            return
        except ssl.SSLWantWriteError:
            self.wants_write = True
            return
        except OSError as exc:
            log.info("client %s: TLS handshake failed: %s", self.name, exc)
            self.close()
            return
        self.wants_write = False
        self._enter(AWAIT_HEAD, self.since)

    # -- reading in the loop ---------------------------------------------------

    def fill(self) -> bool:
        """Read what the socket has (it is readable) into the parser.

        Returns False when the peer closed or reset the connection.
        """
        try:
            data = self._recv_tls() if self.tls else self.sock.recv(HEAD_RECV_SIZE, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b""
        self.received += len(data)
        self.parser.feed(data)
        return bool(data)

    def fill_waiting(self) -> bool:
        """Read what the socket holds right now, without waiting (plain
        sockets only); True if anything (bytes or EOF) was read."""
        try:
            data = self.sock.recv(HEAD_RECV_SIZE, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        self.received += len(data)
        self.parser.feed(data)
        return True

    def _recv_tls(self) -> bytes:
        """What a TLS socket has; ``BlockingIOError`` when a record is partial."""
        ssl = ssl_module()
        self._set_timeout(0.0)
        try:
            return self.sock.recv(RECV_SIZE)
        except (socket.timeout, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise BlockingIOError from None

    def next_request(self) -> Optional[Request]:
        """The next complete request head in the buffer (-> SERVING), or
        None: more bytes are needed (a head begun on an IDLE connection
        starts its header-timeout), or the peer closed between requests
        (-> CLOSED). Raises ``HTTPError`` for a request to ``reject``."""
        event = self.parser.next_event()
        if event is NEED_DATA:
            if self.state is IDLE and self.parser.buffered:
                self._enter(AWAIT_HEAD, time.monotonic())
            return None
        if event is CLOSED:
            self.close()
            return None
        if not isinstance(event, Request):      # Data or EndOfMessage
            raise IncompleteRequest("unexpected %s between requests"
                                    % type(event).__name__)
        self._enter(SERVING, 0.0)
        self.body_left = False
        return event        # a Request (or the uwsgi parser's)

    # -- after a request -------------------------------------------------------

    def finished(self, keep: bool, now: float) -> bool:
        """The app's response is sent. Keep-alive: IDLE, or DRAINING while
        the rest of an unread body is still to come. Otherwise close, with
        a lingering close when the client may still be sending. True if
        IDLE with bytes already buffered (a pipelined request): only then
        can ``next_request`` find something before the socket is readable
        again, since EOF reaches the parser only through ``fill``."""
        if keep:        # the body was read whole, or discard_body skipped it
            if self.body_left:
                self._enter(DRAINING, now)
                return False
            self._enter(IDLE, now)
            return self.parser.buffered > 0
        parser = self.parser
        if parser.buffered or parser.pending_head() is None:
            self.linger(now)
        else:
            self.close()
        return False

    # -- a static reply, sent by the loop ----------------------------------------

    def send_static(self, reply: Reply, keep: bool, now: float) -> Optional[Reply]:
        """Send ``reply`` (SERVING -> SENDING) as far as the socket takes it
        without waiting; see ``push``. Returns the reply once it is over.
        Bytes alone on a plain socket are tried at once, in one ``send``:
        when the socket takes them all (the usual case) the connection goes
        straight on (as ``finished(keep)``) without entering SENDING."""
        data = reply.data
        if reply.file is None and not self.tls:
            try:
                sent = self.sock.send(data, _DONTWAIT)
            except OSError:     # full, or failed: push meets a failure again and ends
                sent = 0
            reply.sent = sent
            if sent == len(data):
                self.finished(keep, now)
                return reply
            data = data[sent:]
        self.outgoing, self._keep, self._pending = reply, keep, data
        self._enter(SENDING, now)
        return self.push(now)

    def push(self, now: float) -> Optional[Reply]:
        """SENDING, writable: send what the socket takes now. Progress starts
        the send-timeout again. Returns the reply once it is over: all sent
        (then as ``finished(keep)``) or failed (closed); else None, and
        ``wants_write`` is set while the rest waits."""
        reply = self.outgoing
        before = reply.sent
        try:
            done = self._push_some(reply)
        except OSError as exc:
            log.debug("client %s: sending a static file: %s", self.name, exc)
            self.abort()
            self.close()
            return reply
        if not done:
            if reply.sent > before:
                self._enter(SENDING, now)
            self.wants_write = True
            return None
        self._end_static()
        self.finished(self._keep, now)
        return reply

    def _push_some(self, reply: Reply) -> bool:
        """True once everything is out; False when the socket is full."""
        if self.tls:
            self._set_timeout(0.0)
        while True:
            if self._pending:
                n = self._send_nowait(self._pending)
                if n is None:
                    return False
                reply.sent += n
                self._pending = self._pending[n:]
            elif reply.file is None or not reply.count:
                return True
            elif self.tls:
                self._pending = reply.file.read(min(reply.count, RECV_SIZE))
                if not self._pending:
                    raise OSError("the file ended %d bytes early" % reply.count)
                reply.count -= len(self._pending)
            else:
                if self.sock.gettimeout() != 0.0:
                    self.sock.setblocking(False)    # for os.sendfile; undone at the end
                try:
                    n = os.sendfile(self.fd, reply.file.fileno(), reply.offset, reply.count)
                except (BlockingIOError, InterruptedError):
                    return False
                if not n:
                    raise OSError("the file ended %d bytes early" % reply.count)
                reply.sent += n
                reply.offset += n
                reply.count -= n
                if reply.count:
                    return False    # the socket is full: the next try would fail

    def _send_nowait(self, data: bytes) -> Optional[int]:
        """Bytes of ``data`` sent without waiting; None when none could be."""
        try:
            if self.tls:
                return self.sock.send(data)
            return self.sock.send(data, _DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            ssl = ssl_module() if self.tls else None
            if ssl is not None and isinstance(exc, (ssl.SSLWantWriteError,
                                                    ssl.SSLWantReadError)):
                return None
            raise

    def _end_static(self) -> None:
        """Close the reply's file; a plain socket made non-blocking for
        ``os.sendfile`` blocks again (with the kernel bounds of
        ``_blocking_for``) for the app's next response. Bytes alone are sent
        with ``MSG_DONTWAIT``: no mode to set or undo."""
        if self.outgoing is not None:
            self.outgoing.close()
        self.outgoing, self._pending, self.wants_write = None, b"", False
        if not self.tls and self.state is not CLOSED_STATE and self.sock.gettimeout() == 0.0:
            try:
                self.sock.setblocking(True)
            except OSError:
                pass

    def discard_body(self, limit: int) -> bool:
        """Skip, without waiting, what has come of the body the app left
        unread; the rest is skipped by the worker loop (DRAINING). False
        if more than ``limit`` bytes were skipped: close instead."""
        if self.parser.skip_empty_body():
            return True
        self.discarded = 0
        result = self._skip_available(limit)
        self.body_left = result == "more"
        return result is not False

    def skip_body(self, now: float) -> None:
        """DRAINING, readable: skip what came. At the body's end -> IDLE
        (a pipelined request may follow); past ``DRAIN_BYTES`` or on a bad
        body -> LINGERING; the peer gone -> CLOSED."""
        try:
            done = self._skip_available(DRAIN_BYTES)
        except (HTTPError, OSError):
            done = None
        if done is True:
            self._enter(IDLE, now)
        elif done is False:
            self.linger(now)
        elif done is None:
            self.close()

    def _skip_available(self, limit: int) -> Union[bool, str, None]:
        """Skip body bytes as long as some are there: True at the body's
        end, False past ``limit``, "more" while waiting for the rest, None
        when the peer closed mid-body. Raises ``HTTPError`` on a bad body."""
        parser = self.parser
        while True:
            event = parser.next_event()
            if type(event) is Data:
                self.discarded += len(event.data)
                if self.discarded > limit:
                    return False
            elif type(event) is EndOfMessage:
                return True
            elif event is NEED_DATA:
                try:
                    data = self._recv_tls() if self.tls else self.sock.recv(
                        RECV_SIZE, _DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    return "more"
                except OSError:
                    return None
                if not data:
                    return None
                self.received += len(data)
                parser.feed(data)
            else:
                raise IncompleteRequest("unexpected %s in a body" % type(event).__name__)

    # -- ending ----------------------------------------------------------------

    def reject(self, error: HTTPError, now: float) -> Tuple[int, int]:
        """Answer a protocol ``error`` (an ``HTTPError``: its status says
        which) without waiting, and close with a lingering close. Returns
        the bytes of the answer that went out, and how many of them were its
        body's (what the access line counts)."""
        data = error_bytes(error, error.head_only)
        try:
            self._set_timeout(0.0) if self.tls else self.sock.setblocking(False)
            sent = self.sock.send(data)
        except OSError:
            self.close()
            return 0, 0
        self.linger(now)
        return sent, max(0, sent - data.index(b"\r\n\r\n") - 4)

    def send_error(self, error: HTTPError, head_only: bool) -> int:
        """Answer ``error`` (an ``HTTPError``) to the request the app holds,
        as ``sendall`` sends; nothing of a response may have gone out yet.
        Returns the bytes sent. ``finished`` then closes the connection."""
        data = error_bytes(error, head_only)
        self.sendall(data)
        return len(data)

    def linger(self, now: float) -> None:
        """Shut the write side (the client reads the response, then EOF),
        and discard what the client still sends for a short bounded time
        before closing: closing with unread input would send a reset, which
        can destroy the response before the client reads it. An aborted
        connection closes at once (a half-close would end it cleanly)."""
        if self.aborted:
            self.close()
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.discarded = 0
        self._enter(LINGERING, now)

    def discard(self) -> None:
        """LINGERING, readable: throw input away; closed at EOF or past
        ``LINGER_BYTES``."""
        try:
            data = self.sock.recv(RECV_SIZE, _DONTWAIT) if not self.tls \
                else self._recv_tls()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self.discarded += len(data)
        if not data or self.discarded > LINGER_BYTES:
            self.close()

    def movable(self, handoff: Handoff) -> bool:
        """Whether ``pass_on`` can hand this connection on through
        ``handoff`` when the pair has room: not TLS, between requests, and
        its unread bytes a partial head the pair can carry (not after EOF)."""
        if self.tls or self.state not in BETWEEN_REQUESTS:
            return False
        head = self.parser.pending_head()
        return head is not None and handoff.can_carry(len(head))

    def pass_on(self, handoff: Handoff) -> bool:
        """Hand this connection, between requests, to another worker through
        ``handoff`` with its unread bytes (-> PASSED_ON). False if it must
        stay: not ``movable``, or the pair is full."""
        if not self.movable(handoff):
            return False
        if not handoff.give(self.fd, self.listener.fileno(), self.state.value,
                            self.since, self.peer, self.parser.pending_head(), self.dest):
            return False
        self._enter(PASSED_ON, 0.0)     # the owner then closes this copy
        return True

    def resume(self, state: str, since: float, head: Optional[bytes],
               dest: Optional[Tuple[str, int]] = None) -> None:
        """Take up, in this worker, a connection another one passed on:
        the same state, counted from the same moment, the same bytes, the
        same addresses (``dest``: from its PROXY header)."""
        self._enter(State(state), since)
        if dest is not None:
            self._proxied_to(dest)
        if head:
            self.parser.feed(head)

    def say_goodbye(self) -> None:
        """Close an idle TLS connection with a close_notify alert."""
        if self.tls:
            try:
                self._set_timeout(0.0)
                cast("SSLSocket", self.sock).unwrap()
            except (OSError, ValueError):
                pass
        self.close()

    def close(self) -> None:
        if self.state is CLOSED_STATE:
            return
        if self.outgoing is not None:
            self._end_static()
        if self.state is not PASSED_ON:
            self._enter(CLOSED_STATE, 0.0)
        self._release()

    def _release(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def name(self) -> str:
        return "%s:%s" % self.peer[:2] if self.peer else "unix"

    # -- while the app runs: the body and the response ---------------------------

    def skip_empty_body(self) -> bool:
        """True when the current request has no body: it is ended here, so
        ``read_body`` need not be called; False when it has one."""
        return self.parser.skip_empty_body()

    def read_body(self, size: Optional[int] = None) -> bytes:
        """The next piece of the current request's body; ``b""`` at its end.

        ``size`` is how many bytes the caller needs (None: whatever comes
        next). Bytes of a Content-Length body that the parser need not see
        (it holds nothing) are received for the caller directly and only
        counted by the parser, not copied through its buffer; with a
        ``size``, the receive waits for all of them (``MSG_WAITALL``, bounded
        by ``read-timeout``: a timeout after some bytes returns those). When
        the parser holds the start of such a piece of at most ``RECV_SIZE``
        (the body's first bytes came with the head), the piece is assembled
        in one buffer: the held bytes copied in once, the rest received into
        it."""
        parser = self.parser
        while True:
            room = parser.body_room()
            if room:
                if size is None:
                    data = self._recv_body(min(room, RECV_SIZE))
                elif self._kernel & _SO_RCVTIMEO and not self.tls:
                    # _waiting_body and _blocking_for inline, once the socket
                    # has its receive bound: the steady state of sized reads
                    self.blocked_until = time.monotonic() + self.read_timeout
                    self._blocked_on = _SO_RCVTIMEO
                    try:
                        data = self.sock.recv(room if room < size else size, _WAITALL)
                    except OSError as exc:
                        raise self._receive_error(exc) from None
                    finally:
                        self.blocked_until = 0.0
                    self.received += len(data)
                else:
                    data = self._waiting_body(self.sock.recv, room if room < size else size,
                                              0 if self.tls else _WAITALL)   # not min(): slower
                    self.received += len(data)
                if data:
                    parser.took_body(len(data))
                    return data
                parser.feed(data)       # closed mid-body: the parser says so
            elif size is not None and size <= RECV_SIZE and not self.tls:
                # (a bigger piece is read whole into the caller's own buffer,
                # or joined once; zeroing one to assemble it would add a pass)
                want = parser.joined_room(size)
                if want:
                    return self._read_joined(want)
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

    def _read_joined(self, want: int) -> bytes:
        """A ``want``-byte piece of a Content-Length body whose start the
        parser holds: one buffer, the held bytes copied in, the rest received
        into it (``MSG_WAITALL``). As with a direct read, a receive cut short
        (``read-timeout`` after some bytes, a signal, the peer closing)
        returns what came (the next read reports the close); no byte at all
        for ``read-timeout`` is ``BodyTimeout``."""
        parser = self.parser
        # bytes(n) adopted by BytesIO: written through its buffer, handed
        # back by getvalue() without a copy.
        out = io.BytesIO(bytes(want))
        view = out.getbuffer()
        try:
            got = parser.take_body_into(view)
            while got < want:
                n = self._recv_body_into(view[got:])
                if not n:       # closed: the next read's parser says so
                    parser.feed(b"")
                    break
                parser.took_body(n)
                got += n
                if got < want:  # cut short by the timeout or a signal
                    break
        finally:
            view.release()
        if got < want:
            out.truncate(got)   # the bytes that came, as a direct read would
        return out.getvalue()

    def _recv_body(self, size: int, flags: int = 0) -> bytes:
        """Body bytes from the socket, waiting up to ``read-timeout``."""
        data = self._waiting_body(self.sock.recv, size, flags)
        self.received += len(data)
        return data

    def _recv_body_into(self, view: memoryview) -> int:
        """As ``_recv_body``, received into ``view`` and waiting for all of it
        (``MSG_WAITALL``; plain sockets): how many bytes came."""
        n = self._waiting_body(self.sock.recv_into, view, len(view), _WAITALL)
        self.received += n
        return n

    def _waiting_body(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)``, a receive of body bytes bounded by ``read-timeout``."""
        self._blocking_for(_SO_RCVTIMEO, self.read_timeout)
        try:
            return call(*args)
        except OSError as exc:
            raise self._receive_error(exc) from None
        finally:
            self.blocked_until = 0.0

    def _receive_error(self, exc: OSError) -> OSError:
        """What a receive of body bytes that failed with ``exc`` raises."""
        if isinstance(exc, ClientError):    # overdue: raised by the worker's tick
            return exc
        if isinstance(exc, (socket.timeout, BlockingIOError)):
            return self._body_timeout()
        return ClientError("reading the body: %s" % exc)

    def sendall(self, data: bytes) -> None:
        """Send bytes; raises ``ClientTimeout`` or ``OSError`` when it cannot."""
        if self.tls or not self._kernel & _SO_SNDTIMEO:
            self._blocking_for(_SO_SNDTIMEO, self.send_timeout)
        else:                       # _blocking_for's common case, inline: per response
            self.blocked_until = time.monotonic() + self.send_timeout
            self._blocked_on = _SO_SNDTIMEO
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

    def _send_rest(self, view: memoryview) -> None:
        """Send all of ``view``; every bit of progress restarts the bound."""
        while view:
            self._blocking_for(_SO_SNDTIMEO, self.send_timeout)
            view = view[self.sock.send(view):]

    def send_parts(self, parts: List[bytes]) -> None:
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

    def _sendmsg_all(self, parts: List[bytes]) -> None:
        sent = self.sock.sendmsg(parts)
        for part in parts:          # the rest, if a signal or SO_SNDTIMEO cut it short
            if sent >= len(part):
                sent -= len(part)
                continue
            self._send_rest(memoryview(part)[sent:])
            sent = 0

    def _send_error(self, exc: OSError, what: str) -> ClientError:
        """The ``ClientError`` for an ``OSError`` raised while sending."""
        if isinstance(exc, ClientError):        # overdue: raised by the worker's tick
            return exc
        if isinstance(exc, (socket.timeout, BlockingIOError)):
            return self._send_timeout()
        return ClientError("sending %s: %s" % (what, exc))

    def sendfile(self, fileobj: IO[bytes], offset: int, count: int) -> int:
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

    def _sendfile(self, file_fd: int, offset: int, count: int) -> int:
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

    def send_continue(self) -> None:
        """``100 Continue``, before the app's first read of the body."""
        self.sendall(writer.CONTINUE)

    def abort(self, on: bool = True) -> None:
        """Make any close of the connection a reset (SO_LINGER 0) instead of
        a clean end, whoever closes it: this worker, or the kernel if the
        worker dies. On while a response whose end is the connection's end
        is under way, so that one cut short is never taken for complete;
        off again (``on=False``) once it is."""
        self.aborted = on
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 _LINGER_0 if on else _LINGER_OFF)
        except OSError:
            pass

    # -- the bounds of blocking calls ----------------------------------------------

    def _blocking_for(self, option: int, seconds: float) -> None:
        """Ready the socket for a blocking call bounded by ``seconds``, and
        start its bound (again, after progress). On a plain socket the bound
        is also recorded in ``blocked_until``, for ``overdue``; the caller
        resets it to 0 after the call."""
        if self.tls:
            self._set_timeout(seconds)
            return
        if not self._kernel & option:
            self.sock.setsockopt(socket.SOL_SOCKET, option, timeval(seconds))
            self._kernel |= option
        self.blocked_until = time.monotonic() + seconds
        self._blocked_on = option

    def _set_timeout(self, timeout: float) -> None:
        """The Python-level timeout of a TLS socket (0.0: non-blocking)."""
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def overdue(self, now: float) -> Optional[ClientError]:
        """The timeout error of the blocking call under way once it has waited
        longer than its bound, else None."""
        if not self.blocked_until or now < self.blocked_until:
            return None
        if self._blocked_on == _SO_RCVTIMEO:
            return self._body_timeout()
        return self._send_timeout()

    def _body_timeout(self) -> BodyTimeout:
        return BodyTimeout("client sent no body bytes for %s s (read-timeout)"
                           % self.read_timeout)

    def _send_timeout(self) -> ClientTimeout:
        return ClientTimeout("client read nothing for %s s (send-timeout)"
                             % self.send_timeout)


def file_size(fileobj: Any) -> Optional[int]:
    """Size of a real file, or None when ``fileobj`` has no usable descriptor."""
    try:
        return os.fstat(fileobj.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


class UwsgiConnection(Connection):
    """A connection speaking the uwsgi protocol (``appserver.http.uwsgi``): one
    request, then closed; a malformed packet is closed without an answer."""

    __slots__ = ()
    parser_class = uwsgi.UwsgiParser

    def reject(self, error: HTTPError, now: float) -> Tuple[int, int]:
        if isinstance(error, uwsgi.PacketError):
            self.linger(now)
            return 0, 0
        return super().reject(error, now)
