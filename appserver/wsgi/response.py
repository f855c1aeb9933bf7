"""``start_response``, the ``write()`` callable and response framing (PEP 3333).

A ``Response`` belongs to one request. It validates what the app gives
(status line, header names and values: no CR/LF injection), keeps hop-by-hop
headers from corrupting framing, chooses the framing (the app's
``Content-Length``, enforced; chunked on HTTP/1.1; close-delimited on
HTTP/1.0; no body for HEAD, 204, 205 and 304, and ``Content-Length: 0`` on
205; a 1xx status is refused: it is not a final response) and hands bytes to its
connection's ``sendall``. The head is held back until the first non-empty body
piece so both leave in one send; a piece of ``GATHER_MIN`` bytes or more goes
with its head and chunk framing as a list to ``send_parts`` (when given), so
it is not copied to be framed. ``unframed`` (when given) is called as a
head goes out whose body will end only with the connection. ``keep_alive``
says, after ``finish``, whether the connection may carry another request.
"""
from __future__ import annotations

import logging
import re
from typing import (
    IO, TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple,
    Union,
)

from appserver.http import writer

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

log = logging.getLogger("appserver")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile("[^\t\x20-\x7e\x80-\xff]")  # controls and non-latin-1
_STATUS = re.compile(r"([1-9][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?\Z")
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "te",
                        "trailer", "transfer-encoding", "upgrade"))
_warned: Set[object] = set()
# (name, value) -> b"Name: value\r\n" (or the length for Content-Length), checked once
_valid_lines: Dict[Any, Union[bytes, int]] = {}
# status line -> (code, status as sent, in bytes), checked once
_valid_statuses: Dict[str, Tuple[int, bytes]] = {}
# A whole header list (as a tuple) -> (its lines, Content-Length, add Date,
# add Server), for lists made only of lines cached above (no hop-by-hop
# header, nothing per response): most apps send the same few lists.
_valid_lists: Dict[Tuple[Any, ...], Tuple[Tuple[bytes, ...], Optional[int], bool, bool]] = {}
# Content-Length value -> its header line
_length_lines: Dict[int, bytes] = {}
# Small: the lines worth caching repeat from the first requests on; values
# that differ per response would only fill it (and each worker's memory).
_VALID_LINES_MAX = 512
GATHER_MIN = 16384          # a body piece this large is sent without a copy
_NO_BODY_CODES = frozenset((204, 205, 304))     # RFC 9110 6.4.1, 15.3.6 (1xx: refused)
_NO_LENGTH_CODES = frozenset((204,))            # RFC 9110 8.6
_UNCACHED = frozenset(("set-cookie", "etag", "last-modified", "expires", "location",
                       "content-disposition", "x-request-id"))  # usually unique


class AppResponseError(Exception):
    """The app broke PEP 3333 or HTTP rules; answered with 500 when possible."""


def _duplicate_length(first: int, second: object) -> AppResponseError:
    return AppResponseError("Content-Length duplicated (%d, then %r): a response "
                            "has at most one" % (first, second))


class FileWrapper:
    """``wsgi.file_wrapper``: the connection may send ``filelike`` with sendfile."""

    def __init__(self, filelike: IO[bytes], blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterator[bytes]:
        read, size = self.filelike.read, self.blksize
        while True:
            data = read(size)
            if not data:
                return
            yield data


def _warn_once(key: object, message: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


class Response:
    """The response to one request; see the module comment."""

    __slots__ = ("_sendall", "_send_parts", "version", "head_only", "keep_alive", "status",
                 "code", "_lines", "_date", "_server", "length", "chunked",
                 "no_body", "headers_sent", "sent", "body_sent", "_extra", "_unframed")

    def __init__(self, sendall: Callable[[bytes], object], version: str, method: str,
                 keep_alive: bool, send_parts: Optional[Callable[[List[bytes]], object]] = None,
                 unframed: Optional[Callable[[], object]] = None) -> None:
        self._sendall = sendall
        self._send_parts = send_parts   # send a list of bytes unjoined, if given
        self._unframed = unframed       # called as a close-delimited head goes out
        self.version = version
        self.head_only = method == "HEAD"
        self.keep_alive = keep_alive
        self.status: Optional[bytes] = None
        self.code = 0
        self.length: Optional[int] = None          # Content-Length declared by the app
        self.chunked = False
        self.headers_sent = False
        self.sent = 0               # bytes put on the wire, head included
        self.body_sent = 0
        self._extra: Optional[Tuple[str, str]] = None

    def start_response(self, status: str, headers: List[Tuple[str, str]],
                       exc_info: Optional[OptExcInfo] = None) -> Callable[[bytes], None]:
        """PEP 3333 ``start_response``; returns the ``write`` callable."""
        if exc_info is not None:
            try:
                if self.headers_sent:
                    error = exc_info[1]
                    if error is None:       # (None, None, None): no error to re-raise
                        raise AssertionError("start_response called again after the "
                                             "head went out")
                    raise error.with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called twice without exc_info")
        try:
            self.code, self.status = _valid_statuses[status]
        except (KeyError, TypeError):
            self._set_status(status)
        self._set_headers(headers)
        return self.write

    def _set_status(self, status: object) -> None:
        """Check a status line not seen before (and remember it)."""
        if type(status) is not str:
            raise AppResponseError("status must be a str, got %r" % (status,))
        match = _STATUS.match(status)
        if match is None:
            raise AppResponseError("invalid status line %r: not a 3-digit code, then "
                                   "a space and a reason without control characters"
                                   % (status,))
        code = int(match.group(1))
        if code < 200:
            raise AppResponseError(
                "status %r: a 1xx status is interim, never the response itself "
                "(the server sends 100 Continue on its own)" % (status,))
        self.code = code
        self.status = (status if " " in status else status + " ").encode("latin-1")
        if len(_valid_statuses) < _VALID_LINES_MAX:
            _valid_statuses[status] = self.code, self.status

    def _set_headers(self, headers: object) -> None:
        if type(headers) is not list:
            raise AppResponseError("headers must be a list, got %s" % type(headers).__name__)
        try:
            known = _valid_lists.get(tuple(headers))
        except TypeError:           # an unhashable item: checked below
            known = None
        if known is not None:       # a list seen before: every line checked then
            checked, self.length, self._date, self._server = known
            self._lines = list(checked)
            return
        lines: List[bytes] = []
        self.length, self._date, self._server = None, True, True
        whole = True                # every item a line cached in _valid_lines
        for item in headers:
            try:
                line = _valid_lines.get(item)
            except TypeError:       # unhashable: certainly not a valid header
                line = None
            if line is not None:
                if isinstance(line, int):       # a Content-Length checked before
                    if self.length is not None:
                        raise _duplicate_length(self.length, item[1])
                    self.length = line
                else:
                    lines.append(line)
                continue
            if type(item) is not tuple or len(item) != 2:
                raise AppResponseError("header %r is not a (name, value) tuple" % (item,))
            name, value = item
            if type(name) is not str or not _TOKEN.match(name):
                raise AppResponseError("invalid header name %r: not a str token" % (name,))
            if type(value) is not str:
                raise AppResponseError("invalid value for header %s: %r is not a str"
                                       % (name, value))
            bad = _BAD_VALUE.search(value)
            if bad:
                raise AppResponseError("invalid value for header %s: %r holds %r (CR, "
                                       "LF, other control characters and non-latin-1 "
                                       "are refused)" % (name, value, bad.group()))
            lname = name.lower()
            if lname == "content-length":
                self.length = length = self._content_length(value)
                if len(_valid_lines) < _VALID_LINES_MAX:
                    _valid_lines[item] = length
                continue
            if lname in HOP_BY_HOP:
                self._hop_by_hop(lname, value)
                whole = False
                continue
            line = ("%s: %s\r\n" % (name, value)).encode("latin-1")
            if lname == "date":
                self._date = whole = False
            elif lname == "server":
                self._server = whole = False
            elif (len(_valid_lines) < _VALID_LINES_MAX and type(name) is str
                  and lname not in _UNCACHED):
                _valid_lines[item] = line   # ordinary header: safe to reuse as is
            else:
                whole = False
            lines.append(line)
        self._lines = lines
        if whole and len(_valid_lists) < _VALID_LINES_MAX:
            _valid_lists[tuple(headers)] = tuple(lines), self.length, True, True

    def _content_length(self, value: str) -> int:
        """The app's Content-Length value, checked."""
        if self.length is not None:
            raise _duplicate_length(self.length, value)
        digits = value.strip()
        if not digits.isdigit() or not digits.isascii():
            raise AppResponseError(
                "invalid Content-Length %r: not a non-negative decimal integer"
                % value)
        return int(digits)

    def _hop_by_hop(self, lname: str, value: str) -> None:
        if lname == "connection" and "close" in value.lower():
            self.keep_alive = False
        elif lname != "connection":
            _warn_once(lname, "dropping hop-by-hop header %r set by the application "
                       "(the server frames responses itself)", lname)

    def extra_header(self, name: str, value: str) -> None:
        """A header the server adds (a request id), unless the app sets it."""
        self._extra = (name, value)

    def header_lines(self) -> Sequence[str]:
        """The ``Name: value\\r\\n`` lines of the head, as str (for the access log)."""
        if self.status is None:
            return ()
        return [line.decode("latin-1") for line in self._lines]

    def _frame_head(self, status: bytes, body: bytes = b"") -> bytes:
        """Decide the framing and return the head bytes (``status`` is the
        status line as sent), with ``body`` (framed already) after them."""
        code, lines = self.code, self._lines
        if self._extra is not None:
            self._add_extra(lines, self._extra)
        self.no_body = self.head_only or code in _NO_BODY_CODES
        if code == 205:
            self.length = 0         # RFC 9110 15.3.6: no content, and says so
        length = self.length
        if length is not None:
            if code not in _NO_LENGTH_CODES:
                line = _length_lines.get(length)
                if line is None:
                    line = b"Content-Length: %d\r\n" % length
                    if len(_length_lines) < _VALID_LINES_MAX:
                        _length_lines[length] = line
                lines.append(line)
        elif self.no_body:
            pass
        elif self.version == "HTTP/1.1":
            self.chunked = True
            lines.append(b"Transfer-Encoding: chunked\r\n")
        else:
            self.keep_alive = False     # the body ends when the connection does
            if self._unframed is not None:
                self._unframed()
        if not self.keep_alive:
            lines.append(b"Connection: close\r\n")
        elif self.version == "HTTP/1.0":
            lines.append(b"Connection: keep-alive\r\n")
        self.headers_sent = True
        # RFC 9110 6.2: writer.head answers with our own version, HTTP/1.1,
        # also to a 1.0 client; the framing above already suits the client's.
        return writer.head_joined(status, lines, body, self._date, self._server)

    def _add_extra(self, lines: List[bytes], extra: Tuple[str, str]) -> None:
        name, value = extra
        prefix = name.lower().encode("latin-1") + b":"
        if not any(line[:len(prefix)].lower() == prefix for line in lines):
            lines.append(("%s: %s\r\n" % (name, value)).encode("latin-1"))

    def close_delimited(self) -> bool:
        """True once a head went out whose body ends only when the connection
        does (HTTP/1.0, no Content-Length): if it cannot be completed, only a
        reset tells the client so."""
        return (self.headers_sent and not self.no_body and not self.chunked
                and self.length is None)

    def set_length_if_unknown(self, length: int) -> None:
        """Declare a body length the server knows (a single-piece body, a file)."""
        if (self.length is None and not self.headers_sent and not self.head_only
                and self.code not in _NO_BODY_CODES):
            self.length = length

    def write_whole(self, data: bytes) -> None:
        """``data`` is the whole body (the app returned one piece): declare
        its length unless the app did, send it with the head, end the body."""
        if type(data) is not bytes:
            raise AppResponseError("body pieces must be bytes, got %s" % type(data).__name__)
        status, size = self.status, len(data)
        if (status is not None and not self.headers_sent and not self.head_only
                and self.code not in _NO_BODY_CODES and size < GATHER_MIN
                and (self.length is None or self.length == size)):
            # The common case, write's steps inline: a body of the length
            # declared (or now declared), with the head in one send; nothing
            # is left for finish.
            self.length = size
            out = self._frame_head(status, data)
            self.body_sent += size
            self._sendall(out)
            self.sent += len(out)
            return
        if self.length is None and not self.headers_sent:   # set_length_if_unknown,
            if not self.head_only and self.code not in _NO_BODY_CODES:  # inline: per request
                self.length = len(data)
        self.write(data)
        if self.chunked or self.body_sent != self.length:
            self.finish()

    def write(self, data: bytes) -> None:
        """Send a piece of body (the head first if it has not gone yet)."""
        status = self.status
        if status is None:
            raise AssertionError("write() before start_response()")
        if type(data) is not bytes:
            raise AppResponseError("body pieces must be bytes, got %s" % type(data).__name__)
        out = b"" if self.headers_sent else self._frame_head(status)
        if data and not self.no_body:
            send_parts = self._send_parts
            if len(data) >= GATHER_MIN and send_parts is not None:
                self._write_parts(send_parts, out, data)
                return
            length = self.length
            if length is not None and not self.chunked and len(data) <= length - self.body_sent:
                self.body_sent += len(data)     # _frame_body's common case, inline
                out += data
            else:
                out += self._frame_body(data)
        elif data and not self.head_only:
            _warn_once(self.code, "application sent a body with a %d response; "
                       "not sent (RFC 9110: it has none)", self.code)
        if out:
            self._sendall(out)
            self.sent += len(out)

    def _write_parts(self, send_parts: Callable[[List[bytes]], object], head: bytes,
                     data: bytes) -> None:
        """A large piece: head, framing and data go out unjoined."""
        parts = [head] if head else []
        if self.chunked:
            self.body_sent += len(data)
            parts += (b"%x\r\n" % len(data), data, b"\r\n")
        else:
            parts.append(self._frame_body(data))
        send_parts(parts)
        self.sent += sum(map(len, parts))

    def _frame_body(self, data: bytes) -> bytes:
        if self.chunked:
            self.body_sent += len(data)
            return writer.chunk(data)
        if self.length is not None:
            room = self.length - self.body_sent
            if len(data) > room:
                _warn_once("long", "application sent more than its Content-Length "
                           "of %d bytes; the excess was not sent", self.length)
                data = data[:room]
        self.body_sent += len(data)
        return data

    def finish(self) -> None:
        """End the body; afterwards ``keep_alive`` is final."""
        if not self.headers_sent:
            self.write(b"")
        if self.chunked:
            self._sendall(writer.LAST_CHUNK)
            self.sent += len(writer.LAST_CHUNK)
        elif (self.length is not None and not self.no_body
              and self.body_sent < self.length):
            log.warning("application sent %d of its declared Content-Length of %d "
                        "bytes; closing the connection", self.body_sent, self.length)
            self.keep_alive = False
