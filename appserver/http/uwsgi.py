"""Sans-I/O parser of the uwsgi protocol (Nginx's ``uwsgi_pass``): bytes in, a request out.

Contract: ``UwsgiParser`` has the interface of ``http.parser.RequestParser``
(``feed``, ``next_event``, ``buffered``, ``peek``, ``pending_head``, ``reset``) and reads
one request per connection. The packet is modifier1 (u8, 0 = a WSGI request),
datasize (u16 little-endian), modifier2 (u8, 0), then a vars block of exactly
datasize bytes: (u16 key length, key, u16 value length, value) pairs, each
u16 little-endian. Once the whole packet is buffered, ``next_event()`` returns
a ``UwsgiRequest``, then the body (CONTENT_LENGTH bytes, read by the HTTP
parser's ``ContentLengthReader``) as ``Data`` pieces and one ``EndOfMessage``,
then ``CLOSED``. It returns ``NEED_DATA`` for more bytes and ``CLOSED`` when
the peer closed before sending a byte. A malformed packet raises
``PacketError`` (the connection is closed without an answer); a well-formed
one beyond the limits raises what the HTTP parser raises, answered the same
way: REQUEST_URI longer than limit-request-line (414); a vars block longer
than a whole head may be, more HTTP_* vars than limit-request-fields or one
longer than limit-request-field-size (431); CONTENT_LENGTH over
limit-request-body (413). The outcome never depends on how the bytes were split.

Vars: keys match ``[A-Za-z0-9_-]+``; values are read as latin-1 and may not
hold control bytes (HTAB aside), except PATH_INFO, which nginx percent-decodes
(any byte, as in the HTTP path). REQUEST_METHOD is required (a token);
CONTENT_LENGTH is empty or digits; SERVER_PROTOCOL, if sent, is HTTP/x[.y].
A key may repeat only for an HTTP_* header other than Host (values joined with
",", Cookie with "; "). HTTP_CONTENT_TYPE/LENGTH and empty CONTENT_TYPE/LENGTH
are dropped, as the HTTP path does. UWSGI_SCHEME (http or https), else HTTPS
(on or 1), sets ``wsgi.url_scheme``.

The request's ``version`` is HTTP/1.0 and ``keep_alive`` False: the response
is HTTP/1.x bytes, ended by closing the connection when its length is unknown
(as uWSGI answers; nginx's uwsgi module reads no chunked responses). The
client's own protocol is SERVER_PROTOCOL.

``build_environ(base, request, peer, wsgi_input)`` is the PEP 3333 environ of
such a request: the listener's base, REMOTE_ADDR/REMOTE_PORT from the peer
unless the vars say who the client is, then every var. ``pack(pairs)``
builds a packet the way nginx does.
"""
from __future__ import annotations

import re
import struct
from typing import Any, Dict, Iterable, Optional, Tuple, Union, cast

from appserver.http.body import (
    TOKEN, BodyReader, ContentLengthReader, Data, EndOfMessage, Fields, NoBody, direct_room,
    joined_room,
)
from appserver.http.errors import (
    BadRequest, HeaderFieldsTooLarge, HTTPError, IncompleteRequest, PayloadTooLarge,
    URITooLong,
)
from appserver.http.parser import CLOSED, NEED_DATA, Limits, ParserEvent, Request

__all__ = ["UwsgiParser", "UwsgiRequest", "PacketError", "Data", "EndOfMessage",
           "NEED_DATA", "CLOSED", "build_environ", "pack"]

HEADER = struct.Struct("<BHB")      # modifier1, datasize, modifier2
_U16 = struct.Struct("<H")
_KEY = re.compile(rb"[A-Za-z0-9_\-]+")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_PROTOCOL = re.compile(r"HTTP/[0-9](?:\.[0-9])?")
_ANY_BYTE = frozenset((b"PATH_INFO",))
_DROPPED = ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")
_SINGLE_HEADERS = frozenset(("HTTP_HOST",))


class PacketError(BadRequest):
    """A malformed uwsgi packet: logged, and the connection closed unanswered."""

    def __init__(self, detail: str) -> None:
        super().__init__("bad uwsgi packet: " + detail)


class UwsgiRequest(Request):
    """A ``Request`` whose ``environ`` holds the checked CGI vars of the packet."""

    __slots__ = ("environ",)

    environ: Dict[str, Any]


def pack(pairs: Iterable[Tuple[Union[str, bytes], Union[str, bytes]]], modifier1: int = 0,
         modifier2: int = 0) -> bytes:
    """The uwsgi packet of (key, value) pairs (str or bytes), as nginx sends it."""
    block = b"".join(_U16.pack(len(k)) + k + _U16.pack(len(v)) + v
                     for k, v in ((_b(k), _b(v)) for k, v in pairs))
    return HEADER.pack(modifier1, len(block), modifier2) + block


def _b(text: Union[str, bytes]) -> bytes:
    return text.encode("latin-1") if isinstance(text, str) else text


def split_vars(block: bytes) -> Fields:
    """The (key, value) byte pairs of a vars block; PacketError if malformed."""
    pairs: Fields = []
    pos, end = 0, len(block)
    while pos < end:
        key, pos = _field(block, pos, end, "key")
        value, pos = _field(block, pos, end, "value")
        if _KEY.fullmatch(key) is None:
            raise PacketError("invalid var name %r" % key[:64])
        if key not in _ANY_BYTE and _CONTROL.search(value):
            raise PacketError("control byte in the value of %s" % key.decode())
        pairs.append((key.decode("latin-1"), value.decode("latin-1")))
    return pairs


def _field(block: bytes, pos: int, end: int, what: str) -> Tuple[bytes, int]:
    if end - pos < 2:
        raise PacketError("vars block ends inside a %s length" % what)
    (size,) = _U16.unpack_from(block, pos)
    pos += 2
    if pos + size > end:
        raise PacketError("%s of %d bytes runs past the vars block" % (what, size))
    return block[pos:pos + size], pos + size


def collect(pairs: Fields, limits: Limits) -> Dict[str, str]:
    """The vars as a dict, header repeats joined; limits checked pair by pair."""
    rl, nf, fs, _ = limits.caps
    env: Dict[str, str] = {}
    headers = 0
    for key, value in pairs:
        if key[:5] == "HTTP_":
            headers += 1
            if headers > nf:
                raise HeaderFieldsTooLarge("more than %d HTTP_* vars" % nf)
            if len(key) - 3 + len(value) > fs:      # as the line "Name: value"
                raise HeaderFieldsTooLarge("%s longer than %d bytes" % (key, fs))
        elif key == "REQUEST_URI" and len(value) > rl:
            raise URITooLong("REQUEST_URI longer than %d bytes" % rl)
        if key not in env:
            env[key] = value
        elif key[:5] == "HTTP_" and key not in _SINGLE_HEADERS:
            env[key] += ("; " if key == "HTTP_COOKIE" else ",") + value
        else:
            raise PacketError("%s sent twice" % key)
    return env


def _body_length(env: Dict[str, str], body_limit: int) -> Optional[int]:
    """CONTENT_LENGTH as an int (None: no body); empty CONTENT_* vars dropped."""
    for key in _DROPPED:
        env.pop(key, None)
    if not env.get("CONTENT_TYPE", "x"):
        del env["CONTENT_TYPE"]
    length = env.get("CONTENT_LENGTH")
    if not length:
        env.pop("CONTENT_LENGTH", None)
        return None
    if _CONTENT_LENGTH.fullmatch(length) is None:
        raise PacketError("invalid CONTENT_LENGTH %r" % length[:32])
    if body_limit and int(length) > body_limit:
        raise PayloadTooLarge("body larger than %d bytes" % body_limit)
    return int(length)


def _scheme(env: Dict[str, str]) -> str:
    scheme = env.get("UWSGI_SCHEME")
    if scheme is None:
        return "https" if env.get("HTTPS", "").lower() in ("on", "1") else "http"
    if scheme.lower() not in ("http", "https"):
        raise PacketError("invalid UWSGI_SCHEME %r" % scheme[:32])
    return scheme.lower()


def _header_name(key: str) -> str:
    """HTTP_X_FORWARDED_FOR -> X-Forwarded-For (for code that reads headers)."""
    return "-".join(part.capitalize() for part in key[5:].split("_"))


def make_request(env: Dict[str, Any], limits: Limits) -> UwsgiRequest:
    """The ``UwsgiRequest`` of checked vars (completed with the PEP 3333 keys)."""
    method = env.get("REQUEST_METHOD")
    if method is None or TOKEN.fullmatch(method) is None:
        raise PacketError("REQUEST_METHOD missing or invalid")
    if _PROTOCOL.fullmatch(env.setdefault("SERVER_PROTOCOL", "HTTP/1.0")) is None:
        raise PacketError("invalid SERVER_PROTOCOL %r" % env["SERVER_PROTOCOL"][:32])
    path = env.setdefault("PATH_INFO", "")
    query = env.setdefault("QUERY_STRING", "")
    target = env.get("REQUEST_URI") or (path + "?" + query if query else path)
    env["RAW_URI"] = env["REQUEST_URI"] = target
    length = _body_length(env, limits.body)
    env["wsgi.url_scheme"] = _scheme(env)
    headers = [(_header_name(k), v) for k, v in env.items() if k[:5] == "HTTP_"]
    request = UwsgiRequest(method, target, path, query, "HTTP/1.0", headers, [],
                           env.get("HTTP_HOST"))
    request.content_length = length
    request.environ = env
    return request


class UwsgiParser:
    """Turns the bytes of one uwsgi connection into its request's events."""

    __slots__ = ("_limits", "_buf", "_reader", "_eof", "_error", "_done")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.reset()

    def reset(self) -> None:
        """Drop all state and buffered bytes."""
        self._buf = bytearray()
        self._reader: Optional[BodyReader] = None
        self._error: Optional[HTTPError] = None
        self._eof = self._done = False

    @property
    def buffered(self) -> int:
        """Bytes held and not yet turned into events."""
        return len(self._buf)

    def peek(self, size: int) -> bytes:
        """The first ``size`` bytes held, whatever the state: the start of a
        refused head, for its access line."""
        return bytes(self._buf[:size])

    def pending_head(self) -> Optional[bytes]:
        """The bytes of a packet not yet complete, or None past it."""
        if self._reader is not None or self._error is not None or self._eof or self._done:
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

    # The same buffer and body reader as the HTTP parser: the same direct path.
    def body_room(self) -> int:
        """As ``RequestParser.body_room``."""
        return 0 if self._eof else direct_room(self._reader, self._buf)

    def joined_room(self, size: int) -> int:
        """As ``RequestParser.joined_room``."""
        return 0 if self._eof else joined_room(self._reader, self._buf, size)

    def take_body_into(self, view: memoryview) -> int:
        """As ``RequestParser.take_body_into``."""
        return cast(ContentLengthReader, self._reader).take_into(self._buf, view)

    def took_body(self, n: int) -> None:
        """As ``RequestParser.took_body``."""
        self._reader.remaining -= n     # type: ignore[union-attr]  # as body_room said

    def skip_empty_body(self) -> bool:
        """False: a packet's body, even empty, ends through its events (one
        request per connection: nothing to gain)."""
        return False

    def next_event(self) -> ParserEvent:
        """The next event, NEED_DATA or CLOSED; raises HTTPError subclasses."""
        if self._error is not None:
            raise self._error
        reader = self._reader
        try:
            if reader is not None:
                return self._next_body(reader)
            return CLOSED if self._done else self._next_head()
        except HTTPError as exc:
            self._error = exc
            raise

    def _next_head(self) -> ParserEvent:
        buf = self._buf
        size = self._check_header(buf)
        if size is None or len(buf) < HEADER.size + size:
            if self._eof:
                if not buf:
                    return CLOSED
                raise PacketError("connection closed inside the packet")
            return NEED_DATA
        block = bytes(buf[HEADER.size:HEADER.size + size])
        del buf[:HEADER.size + size]
        request = make_request(collect(split_vars(block), self._limits), self._limits)
        length = request.content_length
        self._reader = ContentLengthReader(length, None) if length else NoBody(0, None)
        return request

    def _check_header(self, buf: bytearray) -> Optional[int]:
        """The vars block size once the 4-byte header is in, else None."""
        if buf and buf[0] != 0:
            hint = " (an HTTP request?)" if 65 <= buf[0] <= 90 else ""
            raise PacketError("modifier1 is %d, not 0%s" % (buf[0], hint))
        if len(buf) < HEADER.size:
            return None
        _, size, modifier2 = HEADER.unpack_from(buf)
        if modifier2 != 0:
            raise PacketError("modifier2 is %d, not 0" % modifier2)
        max_block = self._limits.caps[3]
        if size > max_block:
            raise HeaderFieldsTooLarge("vars block of %d bytes, more than %d"
                                       % (size, max_block))
        return size

    def _next_body(self, reader: BodyReader) -> ParserEvent:
        event = reader.read(self._buf)
        if event is None:
            if self._eof:
                raise IncompleteRequest("connection closed in the middle of a body")
            return NEED_DATA
        if type(event) is EndOfMessage:
            self._reader, self._done = None, True
        return event


def build_environ(base: Dict[str, Any], request: UwsgiRequest, peer: Union[Tuple[Any, ...], str],
                  wsgi_input: Any) -> Dict[str, Any]:
    """The PEP 3333 environ of a ``UwsgiRequest`` received from ``peer``."""
    environ = base.copy()
    if peer:
        environ["REMOTE_ADDR"] = peer[0]
        environ["REMOTE_PORT"] = str(peer[1])
    else:
        environ["REMOTE_ADDR"] = ""
    environ.update(request.environ)
    environ["wsgi.input"] = wsgi_input
    return environ
