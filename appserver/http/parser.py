"""Sans-I/O HTTP/1.1 request parser (RFC 9110, RFC 9112): bytes in, events out.

Contract: ``RequestParser.feed(data)`` appends bytes (``b""`` = the peer
closed); ``next_event()`` returns, per request, a ``Request``, zero or more
``Data`` and one ``EndOfMessage``, then reads the next head from what is
buffered (pipelining); ``NEED_DATA`` asks for more bytes, ``CLOSED`` reports
EOF at a clean boundary. Anything a strict server must refuse raises an
``appserver.http.errors.HTTPError`` subclass (its ``status`` is the answer);
the parser is then dead and raises the same error again. It never touches a
socket. Heads are parsed from the whole buffer with ``find``/``split`` and
precompiled regexes. Partial heads are checked as bytes arrive (bad bytes,
oversize lines, too many fields are refused at once) and the outcome never
depends on how the bytes were split: the violation whose byte comes first
wins. Field sections and body readers live in ``body.py``.
"""
import re

from .body import READERS, TOKEN, Data, EndOfMessage, Section, parse_fields
from .errors import (
    BadRequest, ExpectationFailed, HTTPError, IncompleteRequest, MethodNotAllowed,
    NotImplemented_, PayloadTooLarge, VersionNotSupported,
)

__all__ = ["Limits", "Request", "Data", "EndOfMessage", "NEED_DATA", "CLOSED", "RequestParser"]

HARD_CAP = 65536         # request_line=0 / field_size=0 mean "up to this"
MAX_FIELDS = 32768       # fields=0 means "up to this"
MAX_HEAD = 1 << 20       # no head or trailer section is ever longer
MAX_BLANK_LINES = 4      # empty lines tolerated before a request line

_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
_TARGET = re.compile(r"[\x21\x22\x24-\x7e]+")  # VCHAR except "#"
_ABSOLUTE = re.compile(r"(?i:https?)://([^/?]*)([^?]*)(?:\?(.*))?")
# host[:port]: an IP-literal or a reg-name (RFC 3986), minus "," which only
# appears when a proxy has joined two Host lines.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]+)(?::[0-9]{0,5})?")


class Limits:
    """Size limits; 0 means the internal hard cap (body: unlimited)."""

    __slots__ = ("request_line", "fields", "field_size", "body")

    def __init__(self, request_line=4094, fields=100, field_size=8190, body=0):
        self.request_line = request_line
        self.fields = fields
        self.field_size = field_size
        self.body = body

    def caps(self):
        """(request_line, fields, field_size, max_section) as enforced."""
        rl = self.request_line or HARD_CAP
        nf = self.fields or MAX_FIELDS
        fs = self.field_size or HARD_CAP
        return rl, nf, fs, min(rl + 2 + nf * (fs + 2) + 2, MAX_HEAD)


class Request:
    """A parsed request head; see the module contract for each field."""

    __slots__ = ("method", "target", "path", "query", "version", "headers",
                 "dropped_headers", "host", "content_length", "chunked",
                 "keep_alive", "expect_continue")

    def __init__(self, method, target, path, query, version, headers,
                 dropped_headers=None, host=None):
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.dropped_headers = [] if dropped_headers is None else dropped_headers
        self.host = host
        self.content_length = None
        self.chunked = False
        self.keep_alive = version == "HTTP/1.1"
        self.expect_continue = False

    def __repr__(self):
        return "<Request %s %s %s %r>" % (self.method, self.target, self.version, self.headers)


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return self._name


NEED_DATA = _Sentinel("NEED_DATA")
CLOSED = _Sentinel("CLOSED")


def _request_line(line):
    """'METHOD SP target SP version' -> the three parts, checked."""
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadRequest("malformed request line")
    method, target, version = parts
    if TOKEN.fullmatch(method) is None:
        raise BadRequest("invalid method")
    if version != "HTTP/1.1" and version != "HTTP/1.0":
        if _VERSION.fullmatch(version):
            raise VersionNotSupported("HTTP version %s not supported" % version)
        raise BadRequest("invalid HTTP version")
    if method == "CONNECT":
        raise MethodNotAllowed("CONNECT is not supported")
    return method, target, version


def _split_target(method, target):
    """request-target -> (path, query, authority or None)."""
    if _TARGET.fullmatch(target) is None:
        raise BadRequest("invalid request-target")
    if target[0] == "/":
        path, _, query = target.partition("?")
        return path, query, None
    if target == "*":
        if method != "OPTIONS":
            raise BadRequest("asterisk-form is only for OPTIONS")
        return "*", "", None
    match = _ABSOLUTE.fullmatch(target)
    if match is None:
        raise BadRequest("unsupported request-target form")
    authority, path, query = match.groups()
    if _HOST.fullmatch(authority) is None:
        raise BadRequest("invalid authority in request-target")
    return path or "/", query or "", authority


def _host(req, hosts, http11):
    if hosts is None:
        if http11:
            raise BadRequest("missing Host header")
        return
    if len(hosts) > 1:
        raise BadRequest("duplicate Host header")
    if _HOST.fullmatch(hosts[0]) is None:
        raise BadRequest("invalid Host header")
    if req.host is None:
        req.host = hosts[0]


def token_list(values):
    """Comma-separated list field lines -> lowercased, non-empty elements."""
    items = ",".join(values).lower().split(",")
    return [item.strip(" \t") for item in items if item.strip(" \t")]


def _transfer_coding(values):
    """Transfer-Encoding must be [unsupported codings,] chunked."""
    codings = token_list(values)
    if not codings or any(TOKEN.fullmatch(c) is None for c in codings):
        raise BadRequest("invalid Transfer-Encoding")
    if codings[-1] != "chunked":
        if "chunked" in codings:
            raise BadRequest("chunked is not the final transfer coding")
        raise NotImplemented_("unsupported transfer coding")
    if codings.count("chunked") > 1:
        raise BadRequest("chunked applied more than once")
    if len(codings) > 1:
        raise NotImplemented_("unsupported transfer coding")


def select_framing(groups, http11, body_limit):
    """(framing, content_length) from the grouped framing fields (RFC 9112 6.3)."""
    te, cl = groups.get("transfer-encoding"), groups.get("content-length")
    if te is not None:
        if cl is not None:
            raise BadRequest("both Transfer-Encoding and Content-Length")
        if not http11:
            raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
        _transfer_coding(te)
        return "chunked", None
    if cl is None:
        return "none", None
    if len(cl) > 1:
        raise BadRequest("duplicate Content-Length")
    if _CONTENT_LENGTH.fullmatch(cl[0]) is None:
        raise BadRequest("invalid Content-Length")
    length = int(cl[0])
    if body_limit and length > body_limit:
        raise PayloadTooLarge("body larger than %d bytes" % body_limit)
    return ("length" if length else "none"), length


def _semantics(req, groups, body_limit):
    """Host, framing, persistence, expectations; returns the framing."""
    http11 = req.version == "HTTP/1.1"
    _host(req, groups.get("host"), http11)
    if len(groups.get("content-type", ())) > 1:
        raise BadRequest("duplicate Content-Type")
    framing, req.content_length = select_framing(groups, http11, body_limit)
    req.chunked = framing == "chunked"
    if "connection" in groups:
        tokens = token_list(groups["connection"])
        req.keep_alive = "close" not in tokens and (http11 or "keep-alive" in tokens)
    if "expect" in groups:
        expectations = token_list(groups["expect"])
        if any(e != "100-continue" for e in expectations):
            raise ExpectationFailed("unsupported expectation")
        req.expect_continue = http11 and bool(expectations)
    return framing


class RequestParser:
    """Turns the bytes of one connection into request events."""

    __slots__ = ("_limits", "_buf", "_reader", "_eof", "_error", "_head", "_blank")

    def __init__(self, limits=None):
        self._limits = Limits() if limits is None else limits
        self.reset()

    def reset(self):
        """Drop all state and buffered bytes."""
        self._buf = bytearray()
        self._reader = self._error = None
        self._eof = False
        self._head = Section(self._limits, head=True)
        self._blank = 0

    @property
    def buffered(self):
        """Bytes held and not yet turned into events."""
        return len(self._buf)

    def pending_head(self):
        """The buffered bytes of a head not yet complete, or None mid-body.

        Feeding them to a new parser reproduces this one's state (used to
        hand a connection to another worker)."""
        if self._reader is not None or self._error is not None or self._eof:
            return None
        return bytes(self._buf)

    def feed(self, data):
        """Append received bytes; ``b""`` means the peer closed."""
        if not data:
            self._eof = True
        elif self._eof:
            raise RuntimeError("feed() after EOF")
        else:
            self._buf += data

    def next_event(self):
        """The next event, NEED_DATA or CLOSED; raises HTTPError subclasses."""
        if self._error is not None:
            raise self._error
        try:
            if self._reader is None:
                return self._next_head()
            return self._next_body()
        except HTTPError as exc:
            self._error = exc
            raise

    def _next_body(self):
        event = self._reader.read(self._buf)
        if event is None:
            if self._eof:
                raise IncompleteRequest("connection closed in the middle of a body")
            return NEED_DATA
        if type(event) is EndOfMessage:
            self._reader = None
        return event

    def _next_head(self):
        buf = self._buf
        if not buf:                 # between requests: the common case
            return CLOSED if self._eof else NEED_DATA
        while buf[:2] == b"\r\n" and not self._head.scan:  # RFC 9112 2.2
            del buf[:2]
            self._blank += 1
            if self._blank > MAX_BLANK_LINES:
                raise BadRequest("too many empty lines before the request line")
        end = self._head.find_end(buf)
        if end < 0:
            if not buf:
                return CLOSED if self._eof else NEED_DATA
            if self._eof:
                raise IncompleteRequest("connection closed in the middle of a head")
            return NEED_DATA
        request, framing = self._parse_head(buf[:end].decode("latin-1").split("\r\n"))
        del buf[:end + 4]
        self._head.reset()
        self._blank = 0
        self._reader = READERS[framing](request.content_length, self._limits)
        return request

    def _parse_head(self, lines):
        method, target, version = _request_line(lines[0])
        path, query, authority = _split_target(method, target)
        groups = {}
        headers, dropped = parse_fields(lines[1:], groups)
        req = Request(method, target, path, query, version, headers, dropped, authority)
        return req, _semantics(req, groups, self._limits.body)
