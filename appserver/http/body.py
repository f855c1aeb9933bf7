"""Field sections and body readers for the request parser (RFC 9112 5-7).

Contract: ``Section`` finds and checks a head or trailer section in the
parser's bytearray as bytes arrive; ``parse_fields`` turns its lines into
(name, value) pairs. ``READERS[framing](length, limits)``, framing being
``"none"``, ``"length"`` or ``"chunked"``, builds a request's body reader,
whose ``read(buf)`` consumes from the front of the buffer and returns
``Data`` (never empty, never past the boundary), ``EndOfMessage`` (chunked
trailers, else ``[]``) or ``None`` for "need more bytes". Errors are
``HTTPError`` subclasses. ``parser.py`` re-exports the two event classes.
``direct_room(reader, buf)`` says how many bytes of a Content-Length body the
caller may receive without passing them through the buffer (the caller
then takes them off the reader's ``remaining``). ``joined_room(reader, buf, size)`` says
how long a piece of such a body the caller may assemble when the buffer
holds its first bytes but fewer than ``size``: ``take_into(buf, view)``
copies them into the caller's buffer (once, no intermediate bytes), and the
rest of the piece is then ``direct_room``.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, Union

from .errors import BadRequest, HeaderFieldsTooLarge, HTTPError, PayloadTooLarge, URITooLong

if TYPE_CHECKING:
    from .parser import Limits

# (name, value) pairs of a field section, in order.
Fields = List[Tuple[str, str]]
# The values of the fields ``head.semantics`` needs, by lower-case name.
Groups = Dict[str, List[str]]

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control bytes other than HTAB, a CR not followed by LF, an LF without CR.
BAD_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?=[^\n])|(?<!\r)\n")
_CTL_CR_LF = bytes(range(32)).replace(b"\t", b"") + b"\x7f"
SPECIAL_FIELDS = frozenset(  # the fields head.semantics needs
    ("host", "content-length", "transfer-encoding", "connection", "expect", "content-type"))
MAX_CHUNK_LINE = 4096  # chunk-size line, extensions included, CRLF excluded
_TOKEN_B = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
# chunk-size = 1*HEXDIG (at most 16 digits), then chunk-ext per RFC 9112
# 7.1.1: *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
# BWS (SP/HTAB) is accepted around ";" and "=" as the grammar allows, but
# never after the size alone nor before the CRLF: "1a \r\n" is refused.
# Extensions are validated and ignored.
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[ \t]*" + _TOKEN_B
    + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN_B + rb"|" + _QUOTED + rb"))?)*")


class Data:
    """A piece of the request body."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return type(other) is Data and other.data == self.data

    def __repr__(self) -> str:
        return "Data(%r)" % (self.data,)


class EndOfMessage:
    """The end of one request; ``trailers`` are (name, value) str pairs."""

    __slots__ = ("trailers",)

    def __init__(self, trailers: Optional[Fields] = None) -> None:
        self.trailers: Fields = [] if trailers is None else trailers

    def __eq__(self, other: object) -> bool:
        return type(other) is EndOfMessage and other.trailers == self.trailers

    def __repr__(self) -> str:
        return "EndOfMessage(%r)" % (self.trailers,)


def parse_fields(lines: List[str], groups: Groups) -> Tuple[Fields, List[str]]:
    """Field lines -> (headers, dropped); framing fields also go to groups."""
    headers: Fields = []
    dropped: List[str] = []
    append, token, special = headers.append, TOKEN.fullmatch, SPECIAL_FIELDS
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or token(name) is None:
            if line[:1] in (" ", "\t"):
                raise BadRequest("obsolete line folding in header")
            raise BadRequest("invalid header name" if colon else "header line without a colon")
        if "_" in name:
            dropped.append(name)
            continue
        value = value.strip(" \t")
        append((name, value))
        key = name.lower()
        if key in special:
            groups.setdefault(key, []).append(value)
    return headers, dropped


class Section:
    """A head (request line + fields) or trailer section, checked as it arrives.

    Limits are enforced the same way whatever the split: the error raised is
    the one whose triggering byte comes first, as if bytes came one by one.
    """

    __slots__ = ("caps", "head", "scan", "lines", "line_start", "line_check")

    def __init__(self, limits: Limits, head: bool,
                 line_check: Optional[Callable[[str], object]] = None) -> None:
        self.caps, self.head = limits.caps, int(head)
        self.scan = self.lines = self.line_start = 0
        # A head's request line is checked as soon as it is complete (called
        # with it as str; raises HTTPError): the client is answered at once,
        # not after a header-timeout for a blank line that never comes.
        self.line_check: Optional[Callable[[str], object]] = line_check if head else None

    def reset(self) -> None:
        self.scan = self.lines = self.line_start = 0

    def find_end(self, buf: bytearray) -> int:
        """Offset of the section's final CRLF CRLF, or -1; checks new bytes."""
        end = buf.find(b"\r\n\r\n", max(0, self.scan - 3))
        self.check(buf, end + 2 if end >= 0 else len(buf) - buf.endswith(b"\r"))
        return end

    def check(self, buf: bytearray, stop: int) -> None:
        """Check buf[scan:stop] (a final CR is left for the next call)."""
        start, (rl, nf, fs, max_total) = self.scan, self.caps
        region = buf[start:stop]
        newlines = region.count(b"\n")
        first = start - self.line_start + (region.find(b"\n") if newlines else len(region))
        first_limit = rl if self.head and not self.lines else fs
        longest = 0
        if newlines and stop - start > fs + 1:  # else no later line can be too long
            longest = max(map(len, region.split(b"\n")[1:]))
        line_error = None
        if newlines and not self.lines and self.line_check is not None:
            line_error = self._line_error(buf, self.line_check)
        if (len(region) - len(region.translate(None, _CTL_CR_LF)) != 2 * newlines
                or region.count(b"\r\n") != newlines
                or first > first_limit + 1
                or longest > fs + 1 or stop > max_total
                or self.lines + newlines - self.head > nf or line_error):
            raise self._first_error(buf, start, stop, line_error)
        if newlines:
            self.lines += newlines
            self.line_start = start + region.rfind(b"\n") + 1
        self.scan = stop

    def _line_error(self, buf: bytearray, line_check: Callable[[str], object]
                    ) -> Optional[Tuple[int, int, HTTPError]]:
        """The error of a malformed request line (complete in ``buf``), as a
        candidate for ``_first_error``: revealed by the LF that ends it."""
        end = buf.find(b"\n")
        try:
            line_check(buf[:end].rstrip(b"\r").decode("latin-1"))
        except HTTPError as exc:
            return end, 4, exc
        return None

    def _first_error(self, buf: bytearray, start: int, stop: int,
                     line_error: Optional[Tuple[int, int, HTTPError]] = None) -> HTTPError:
        """The violation in buf[start:stop] whose byte comes first.

        Candidates are (index of the byte that reveals it, rank); the rank
        breaks ties in the order ``check`` would meet them byte by byte. A
        bare CR is revealed by the byte after it; a line too long by its
        (limit + 2)th byte, CR included; too many fields by the LF that ends
        the extra one; the size cap by its first byte over; a malformed
        request line by its LF.
        """
        rl, nf, fs, max_total = self.caps
        found = [line_error] if line_error else []
        if stop > max_total:
            found.append((max_total, 3, HeaderFieldsTooLarge("header section too large")))
        bad = BAD_BYTES.search(buf, start, stop + 1)  # a CR at stop - 1 needs its follower
        if bad:
            found.append((bad.start() + (bad.group() == b"\r"), 0,
                          BadRequest("invalid byte %r in header section" % bad.group())))
        s, lines = self.line_start, self.lines
        while True:
            q = buf.find(b"\n", max(s, start), stop)
            limit, error = (rl, URITooLong) if self.head and not lines else (
                fs, HeaderFieldsTooLarge)
            if (q if q >= 0 else stop) - s > limit + 1:
                found.append((s + limit + 1, 1, error("line longer than %d bytes" % limit)))
                break
            if q < 0:
                break
            lines += 1
            if lines - self.head > nf:
                found.append((q, 2, HeaderFieldsTooLarge("more than %d fields" % nf)))
                break
            s = q + 1
        return min(found)[2]  # (index, rank) pairs are unique


def _take(buf: bytearray, n: int) -> bytes:
    """Up to n bytes from the front of buf, removed from it."""
    if n >= len(buf):
        data = bytes(buf)
        buf.clear()
    else:
        data = bytes(buf[:n])
        del buf[:n]
    return data


# What a body reader's ``read`` returns: a piece, the end, or None for "need
# more bytes".
Event = Union[Data, EndOfMessage, None]


class NoBody:
    """A request without a body: ends at once."""

    __slots__ = ()

    def __init__(self, length: Optional[int], limits: Optional[Limits]) -> None:
        pass

    def read(self, buf: bytearray) -> Event:
        return EndOfMessage([])


class ContentLengthReader:
    """Exactly ``length`` bytes of body."""

    __slots__ = ("remaining",)

    def __init__(self, length: int, limits: Optional[Limits]) -> None:
        self.remaining = length

    def read(self, buf: bytearray) -> Event:
        n = self.remaining
        if not n:
            return EndOfMessage([])
        if not buf:
            return None
        data = _take(buf, n)
        self.remaining = n - len(data)
        return Data(data)

    def take_into(self, buf: bytearray, view: memoryview) -> int:
        """Move the body bytes held in ``buf`` (at most ``len(view)``) to
        the front of ``view``; how many."""
        n = min(len(buf), self.remaining, len(view))
        with memoryview(buf) as held:
            view[:n] = held[:n]
        del buf[:n]
        self.remaining -= n
        return n


def direct_room(reader: Optional[BodyReader], buf: bytearray) -> int:
    """Body bytes that may go straight from the socket to the app: the rest
    of a Content-Length body while nothing is buffered, else 0."""
    return reader.remaining if type(reader) is ContentLengthReader and not buf else 0


def joined_room(reader: Optional[BodyReader], buf: bytearray, size: int) -> int:
    """The length of the next ``size``-byte piece of a Content-Length body
    when the buffer holds its start but not all of it (the rest is to be
    received directly), else 0: min(size, what is left of the body)."""
    if type(reader) is not ContentLengthReader or not buf:
        return 0
    want = min(size, reader.remaining)
    return want if len(buf) < want else 0


_SIZE, _DATA, _DATA_END, _TRAILERS = range(4)
_AGAIN = object()  # a step consumed input and changed state: run the next one


class ChunkedReader:
    """chunked transfer coding; the trailer section goes to EndOfMessage."""

    __slots__ = ("_state", "_remaining", "_total", "_limits", "_section")

    def __init__(self, length: Optional[int], limits: Limits) -> None:
        self._state, self._remaining, self._total = _SIZE, 0, 0
        self._limits = limits
        self._section: Optional[Section] = None

    def read(self, buf: bytearray) -> Event:
        event: object = _AGAIN
        while event is _AGAIN:
            event = _STEPS[self._state](self, buf)
        return event  # type: ignore[return-value]  # not _AGAIN

    def _size_line(self, buf: bytearray) -> object:
        end = buf.find(b"\r\n", 0, MAX_CHUNK_LINE + 2)
        if end < 0:
            if len(buf) > MAX_CHUNK_LINE:
                raise BadRequest("chunk-size line too long")
            if b"\n" in buf:
                raise BadRequest("bare LF in chunk-size line")
            return None
        match = _CHUNK_LINE.fullmatch(buf, 0, end)
        if match is None:
            raise BadRequest("invalid chunk-size line")
        size = int(match.group(1), 16)
        del buf[:end + 2]
        self._total += size
        limit = self._limits.body
        if limit and self._total > limit:
            raise PayloadTooLarge("chunked body larger than %d bytes" % limit)
        if size:
            self._state, self._remaining = _DATA, size
        else:
            self._state = _TRAILERS
        return _AGAIN

    def _data(self, buf: bytearray) -> object:
        if not buf:
            return None
        n = self._remaining
        data = _take(buf, n)
        self._remaining = n = n - len(data)
        if not n:
            self._state = _DATA_END
        return Data(data)

    def _data_end(self, buf: bytearray) -> object:
        if buf[:2] == b"\r\n":
            del buf[:2]
            self._state = _SIZE
            return _AGAIN
        if buf == b"\r"[:len(buf)]:  # b"" or b"\r": wait for the rest
            return None
        raise BadRequest("chunk data not followed by CRLF")

    def _trailers(self, buf: bytearray) -> object:
        if self._section is None:
            if buf[:2] == b"\r\n":
                del buf[:2]
                return EndOfMessage([])
            if buf == b"\r"[:len(buf)]:
                return None
            self._section = Section(self._limits, head=False)
        end = self._section.find_end(buf)
        if end < 0:
            return None
        lines = buf[:end].decode("latin-1").split("\r\n")
        del buf[:end + 4]
        return EndOfMessage(parse_fields(lines, {})[0])


_STEPS = (ChunkedReader._size_line, ChunkedReader._data,
          ChunkedReader._data_end, ChunkedReader._trailers)

BodyReader = Union[NoBody, ContentLengthReader, ChunkedReader]
# (length, limits) -> reader; the length is the Content-Length, else None.
READERS: Dict[str, Callable[..., BodyReader]] = {
    "none": NoBody, "length": ContentLengthReader, "chunked": ChunkedReader}
