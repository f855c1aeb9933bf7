"""Sans-I/O HTTP/1.1 request parser (RFC 9110, RFC 9112): bytes in, events out.

Contract: ``RequestParser.feed(data)`` appends bytes (``b""`` = the peer
closed); ``next_event()`` returns, per request, a ``Request``, zero or more
``Data`` and one ``EndOfMessage``, then reads the next head from what is
buffered (pipelining); ``NEED_DATA`` asks for more bytes, ``CLOSED`` reports
EOF at a clean boundary. Anything a strict server must refuse raises an
``appserver.http.errors.HTTPError`` subclass (its ``status`` is the answer,
its ``head_only`` is set when the refused head is a ``HEAD`` request's);
the parser is then dead and raises the same error again. It never touches a
socket. Heads are parsed from the whole buffer with ``find``/``split`` and
precompiled regexes; a plainly well-formed head that arrives whole is proved
so and split in one pass (``plain.split``, in C when built). Partial heads
are checked as bytes arrive (bad bytes, oversize lines, too many fields and
a malformed request line, such as one without a version, are refused at
once) and the outcome never depends on how the bytes were split: the
violation whose byte comes first wins. Field sections and body readers live
in ``body.py``, what a head means (request line, target, Host, framing,
persistence) in ``head.py``.
"""
from __future__ import annotations

from typing import List, Optional, Tuple, Union, cast

from . import plain
from .body import (
    READERS, BodyReader, ContentLengthReader, Data, EndOfMessage, Fields, Groups, Section,
    joined_room, parse_fields,
)
from .errors import BadRequest, HTTPError, IncompleteRequest
from .head import check_request_line, request_line, semantics, split_target

__all__ = ["Limits", "Request", "Data", "EndOfMessage", "NEED_DATA", "CLOSED", "RequestParser"]

HARD_CAP = 65536         # request_line=0 / field_size=0 mean "up to this"
MAX_FIELDS = 32768       # fields=0 means "up to this"
MAX_HEAD = 1 << 20       # no head or trailer section is ever longer
MAX_BLANK_LINES = 4      # empty lines tolerated before a request line

_NO_BODY = READERS["none"](None, None)        # stateless: one serves all


class Limits:
    """Size limits; 0 means the internal hard cap (body: unlimited).

    Fixed once made: ``caps`` is ``(request_line, fields, field_size,
    max_section)`` as enforced, worked out here once rather than for every
    connection's parser."""

    __slots__ = ("request_line", "fields", "field_size", "body", "caps", "plain_max")

    def __init__(self, request_line: int = 4094, fields: int = 100, field_size: int = 8190,
                 body: int = 0) -> None:
        self.request_line = request_line
        self.fields = fields
        self.field_size = field_size
        self.body = body
        rl = request_line or HARD_CAP
        nf = fields or MAX_FIELDS
        fs = field_size or HARD_CAP
        self.caps = (rl, nf, fs, min(rl + 2 + nf * (fs + 2) + 2, MAX_HEAD))
        self.plain_max = rl if rl < fs else fs  # no line of a head this short is too long


_DEFAULT_LIMITS = Limits()


class Request:
    """A parsed request head; see the module contract for each field."""

    __slots__ = ("method", "target", "path", "query", "version", "headers",
                 "dropped_headers", "host", "content_length", "chunked",
                 "keep_alive", "expect_continue", "line")

    def __init__(self, method: str, target: str, path: str, query: str, version: str,
                 headers: Fields, dropped_headers: Optional[List[str]] = None,
                 host: Optional[str] = None, line: Optional[str] = None) -> None:
        self.line = line or "%s %s %s" % (method, target, version)   # as received
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.dropped_headers = [] if dropped_headers is None else dropped_headers
        self.host = host
        self.content_length: Optional[int] = None
        self.chunked = False
        self.keep_alive = version == "HTTP/1.1"
        self.expect_continue = False

    def __repr__(self) -> str:
        return "<Request %s %s %s %r>" % (self.method, self.target, self.version, self.headers)


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA = _Sentinel("NEED_DATA")
CLOSED = _Sentinel("CLOSED")
# What ``next_event`` returns.
ParserEvent = Union[Request, Data, EndOfMessage, _Sentinel]


class RequestParser:
    """Turns the bytes of one connection into request events."""

    __slots__ = ("_limits", "_buf", "_reader", "_eof", "_error", "_head", "_blank",
                 "_plain_max", "_max_fields")

    def __init__(self, limits: Optional[Limits] = None) -> None:
        self._limits = limits = _DEFAULT_LIMITS if limits is None else limits
        self._plain_max = limits.plain_max
        self._max_fields = limits.caps[1]
        self._buf = bytearray()
        self._reader: Optional[BodyReader] = None
        self._error: Optional[HTTPError] = None
        self._eof = False
        # The Section that checks a partial head is made when one comes:
        # most heads arrive whole.
        self._head: Optional[Section] = None
        self._blank = 0

    def reset(self) -> None:
        """Drop all state and buffered bytes."""
        self.__init__(self._limits)     # type: ignore[misc]

    @property
    def buffered(self) -> int:
        """Bytes held and not yet turned into events."""
        return len(self._buf)

    def peek(self, size: int) -> bytes:
        """The first ``size`` bytes held, whatever the state: the start of a
        refused head, for its access line."""
        return bytes(self._buf[:size])

    def pending_head(self) -> Optional[bytes]:
        """The buffered bytes of a head not yet complete, or None mid-body.

        Feeding them to a new parser reproduces this one's state (used to
        hand a connection to another worker)."""
        if self._reader is not None or self._error is not None or self._eof:
            return None
        return bytes(self._buf)

    def feed(self, data: bytes) -> None:
        """Append received bytes; ``b""`` means the peer closed."""
        if not data:
            self._eof = True
        elif self._eof:
            raise RuntimeError("feed() after EOF")
        else:
            self._buf += data

    def next_event(self) -> ParserEvent:
        """The next event, NEED_DATA or CLOSED; raises HTTPError subclasses."""
        if self._error is not None:
            raise self._error
        reader = self._reader
        buf = self._buf
        if reader is None and not buf:      # between requests
            return CLOSED if self._eof else NEED_DATA
        try:
            if reader is not None:
                return self._next_body(reader)
            head = self._head
            if (head is None or not head.scan) and buf[0] != 13:   # new, no blank line
                # The plain path, inline (per request): a plainly well-formed
                # head that arrived whole, split in one pass.
                end = buf.find(b"\r\n\r\n")
                if 0 <= end and end + 2 <= self._plain_max:
                    parts = plain.split(buf, end + 2, self._max_fields)
                    if parts is not None:
                        method, target, path, query, version, line, headers, groups = parts
                        req = Request(method, target, path, query, version, headers, [],
                                      None, line)
                        return self._head_done(buf, end, req,
                                               semantics(req, groups, self._limits.body))
            return self._next_head()
        except HTTPError as exc:
            self._error = exc
            if self._reader is None and self._buf[:5] == b"HEAD ":
                exc.head_only = True
            raise

    def body_room(self) -> int:
        """How many body bytes the caller may receive and hand to the app
        itself, without feeding them: the rest of a Content-Length body
        while nothing is buffered (0 otherwise). It reports them with
        ``took_body``; the body's end is still an ``EndOfMessage``."""
        reader = self._reader   # body.direct_room, inline: once per read of a body
        if type(reader) is ContentLengthReader and not self._buf and not self._eof:
            return reader.remaining
        return 0

    def joined_room(self, size: int) -> int:
        """The length of the next ``size``-byte piece of a Content-Length body
        whose start is buffered but shorter than the piece (0 otherwise):
        the caller assembles it with ``take_body_into`` and then receives
        the rest itself (``body_room``, ``took_body``)."""
        return 0 if self._eof else joined_room(self._reader, self._buf, size)

    def take_body_into(self, view: memoryview) -> int:
        """Move the buffered body bytes (``joined_room`` said there are some)
        to the front of ``view``; how many."""
        return cast(ContentLengthReader, self._reader).take_into(self._buf, view)

    def took_body(self, n: int) -> None:
        """``n`` bytes (at most ``body_room()``) of the body went to the app."""
        self._reader.remaining -= n     # type: ignore[union-attr]  # as body_room said

    def skip_empty_body(self) -> bool:
        """End a request that has no body without going through its events
        (its ``EndOfMessage``); True if it had none, False if it has a body
        (or its end was already taken)."""
        if self._reader is _NO_BODY:
            self._reader = None
            return True
        return False

    def _next_body(self, reader: BodyReader) -> ParserEvent:
        event = reader.read(self._buf)
        if event is None:
            if self._eof:
                raise IncompleteRequest("connection closed in the middle of a body")
            return NEED_DATA
        if type(event) is EndOfMessage:
            self._reader = None
        return event

    def _next_head(self) -> ParserEvent:
        """A head that is not plain, or not whole yet (``next_event`` tried
        the plain path first)."""
        buf = self._buf             # not empty: next_event saw to that
        head = self._head
        if head is None:
            head = self._head = Section(self._limits, True, check_request_line)
        while buf[:2] == b"\r\n" and not head.scan:   # RFC 9112 2.2
            del buf[:2]
            self._blank += 1
            if self._blank > MAX_BLANK_LINES:
                raise BadRequest("too many empty lines before the request line")
        end = head.find_end(buf)
        if end < 0:
            if not buf:
                return CLOSED if self._eof else NEED_DATA
            if self._eof:
                raise IncompleteRequest("connection closed in the middle of a head")
            return NEED_DATA
        head.reset()
        return self._head_done(buf, end, *self._parse_head(
            buf[:end].decode("latin-1").split("\r\n")))

    def _head_done(self, buf: bytearray, end: int, request: Request, framing: str) -> Request:
        """Consume the head in ``buf[:end + 4]``, parsed to ``request`` and its ``framing``."""
        del buf[:end + 4]
        self._blank = 0
        self._reader = _NO_BODY if framing == "none" else READERS[framing](
            request.content_length, self._limits)
        return request

    def _parse_head(self, lines: List[str]) -> Tuple[Request, str]:
        method, target, version = request_line(lines[0])
        path, query, authority = split_target(method, target)
        groups: Groups = {}
        headers, dropped = parse_fields(lines[1:], groups)
        req = Request(method, target, path, query, version, headers, dropped, authority,
                      lines[0])
        return req, semantics(req, groups, self._limits.body)
