"""The answer to a static request, decided without a socket.

``StaticFiles(mounts, max_age)`` is built once per worker. ``claims(path)``
says whether a raw request path is under one of its prefixes;
``answer(method, path, headers, version, keep)`` returns a ``Reply``: the head bytes, and
either a short body or an open file with the byte range to send. It returns
None when the file is missing and the app should answer instead
(``fallback``). The rules (RFC 9110):

- ``GET`` and ``HEAD``; any other method is 405 with ``Allow: GET, HEAD``.
- The file is found by ``appserver.static.paths`` (404 for anything unsafe
  or missing, never a listing). A precompressed sibling (``name.br``,
  ``name.gz``) is chosen by ``Accept-Encoding`` (q-values, ``br`` before
  ``gzip`` at equal weight), with ``Content-Encoding``; ``Vary:
  Accept-Encoding`` whenever a sibling exists.
- ``Content-Type`` from the requested name; ``Last-Modified`` and a strong
  ``ETag`` (mtime, size, encoding) of the representation sent.
- Preconditions in RFC 9110 13.2.2's order: ``If-Match`` (412),
  ``If-Unmodified-Since`` (412), ``If-None-Match`` (304), else
  ``If-Modified-Since`` (304).
- One ``Range`` of ``bytes`` -> 206 with ``Content-Range``; unsatisfiable ->
  416 with ``Content-Range: bytes */size``; several ranges, another unit or a
  malformed one are ignored (200); ``If-Range`` that does not match -> 200.
- ``Cache-Control: public, max-age=31536000, immutable`` for a hashed name
  (``app.3f2a9c1b7e4d.css``, Django's ``ManifestStaticFilesStorage``), else
  ``public, max-age=<max_age>``.
"""

import mimetypes
import os
import re
from email.utils import parsedate_to_datetime

from appserver.http import writer
from appserver.static.cache import MAX_BODY, Entry, FileCache, read_small, stat_key
from appserver.static.paths import Mounts, NotFound, decode, resolve_segments, resolve_sibling

IMMUTABLE = b"public, max-age=31536000, immutable"
HASHED_NAME = re.compile(r"^.+\.[0-9a-f]{12}\..+$")
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))    # preferred first at equal q
ALLOW = b"GET, HEAD"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
          ".html": "text/html", ".json": "application/json", ".map": "application/json",
          ".svg": "image/svg+xml", ".webp": "image/webp", ".avif": "image/avif",
          ".woff": "font/woff", ".woff2": "font/woff2", ".wasm": "application/wasm",
          ".txt": "text/plain", ".xml": "text/xml", ".ico": "image/vnd.microsoft.icon"}
_COMPRESSED = {"gzip": "application/gzip", "br": "application/x-brotli",
               "bzip2": "application/x-bzip2", "xz": "application/x-xz"}
_TEXT = ("text/", "application/json", "application/javascript", "image/svg+xml")


class Reply:
    """A static response: ``head`` bytes, then ``body`` bytes or ``count``
    bytes of ``file`` (an open binary file the sender closes) from
    ``offset``. ``data`` is the head and the body bytes joined (what the
    sender sends first; given ready-made by ``Representation.plain``).
    ``status`` (an int) and ``length`` (body bytes) are for the access log
    and metrics; ``sent`` counts what went out."""

    __slots__ = ("status", "head", "data", "file", "offset", "count", "sent", "note")

    def __init__(self, status, head, body=b"", file=None, offset=0, count=0, data=None):
        self.status, self.head = status, head
        self.data = head + body if data is None else data
        self.file, self.offset, self.count = file, offset, count
        self.sent = 0           # bytes on the wire so far, head included (the sender's)
        self.note = None        # what the caller needs once it is sent (its log record)

    @property
    def body(self):
        return self.data[len(self.head):]

    @property
    def length(self):
        return self.count if self.file is not None else len(self.data) - len(self.head)

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


class Representation:
    """One file a path may be answered with (the file itself, or a
    precompressed sibling): where it is, its ``etag`` and ``mtime``, the
    head's lines that never change (``validators``: ETag, Last-Modified,
    Cache-Control, Vary; ``entity``: Content-Type, Content-Encoding,
    Accept-Ranges; ``whole``: all of them and the Content-Length of the
    whole file), and its bytes when it is small (else None: sent from the
    file)."""

    __slots__ = ("coding", "path", "size", "etag", "mtime", "validators", "entity",
                 "whole", "body", "_made")

    def __init__(self, name, coding, path, info, cache_control, vary):
        self.coding, self.path, self.size = coding, path, info.st_size
        self.etag = '"%x-%x%s"' % (info.st_mtime_ns, info.st_size,
                                   "-" + coding if coding else "")
        self.mtime = int(info.st_mtime)
        self.validators = b"".join([
            b"ETag: %s\r\n" % self.etag.encode("ascii"),
            b"Last-Modified: %s\r\n" % writer.http_date(self.mtime).encode("ascii"),
            b"Cache-Control: %s\r\n" % (IMMUTABLE if HASHED_NAME.match(name)
                                         else cache_control),
            b"Vary: Accept-Encoding\r\n" if vary else b""])
        self.entity = b"".join([
            b"Content-Type: %s\r\n" % content_type(name).encode("latin-1"),
            b"Content-Encoding: %s\r\n" % coding.encode("ascii") if coding else b"",
            b"Accept-Ranges: bytes\r\n"])
        self.whole = self.validators + self.entity + b"Content-Length: %d\r\n" % self.size
        self.body = read_small(path, stat_key(info)) if self.size <= MAX_BODY else None
        self._made = (None, None, b"", b"")     # plain's (tail, conn, head, head + body)

    def plain(self, method, conn):
        """The 200 ``Reply`` with this whole representation. Its head (and,
        for a small file, head and body joined) is made once for each second
        of the ``Date`` line and ``conn`` (the Connection line)."""
        tail = writer.tail()
        made = self._made
        if made[0] is not tail or made[1] != conn:
            head = writer.head(b"200 OK", conn + self.whole)
            made = self._made = (tail, conn, head,
                                 head + self.body if self.body is not None else None)
        if method == "HEAD" or not self.size:
            return Reply(200, made[2])
        if made[3] is not None:
            return Reply(200, made[2], b"", None, 0, 0, made[3])    # positional: faster
        return _body(200, method, self, made[2], conn, 0, self.size)


class StaticFiles:
    """The static mounts of a worker and how their files are answered."""

    def __init__(self, mounts, max_age=60, fallback=False):
        self.mounts = Mounts(mounts)
        self.cache_control = b"public, max-age=%d" % max_age
        self.fallback = fallback
        self.cache = FileCache()

    def claims(self, path):
        """True for a raw request path under one of the prefixes."""
        return path.startswith(self.mounts.prefixes)

    def answer(self, method, path, headers, version="HTTP/1.1", keep=True):
        """The ``Reply`` to a request under a prefix, or None (fallback:
        the app answers a file that is not there). ``keep``: the connection
        stays open afterwards (else the head says ``Connection: close``).
        A kept path asked for without preconditions, a range or (when it has
        precompressed siblings) ``Accept-Encoding`` is answered with bytes
        made once per second (``Representation.plain``)."""
        conn = (b"" if version == "HTTP/1.1" else _KEEP_ALIVE) if keep else _CLOSE
        entry = self.cache.get(path)
        if entry is None:
            mount, rest = self.mounts.match(path)
            try:
                entry = self._resolve(mount, rest)
            except NotFound:
                return None if self.fallback else _short(404, "Not Found", method, conn)
            self.cache.put(path, entry)
        if method != "GET" and method != "HEAD":
            return _short(405, "Method Not Allowed", method,
                          conn + b"Allow: %s\r\n" % ALLOW)
        special = entry.special
        for name, _ in headers:
            if name.lower() in special:
                break
        else:       # nothing in the request can change the answer
            return entry.identity.plain(method, conn)
        fields = _fields(headers)
        rep = entry.identity
        if entry.encoded:
            rep = _choose_encoding(entry, fields.get("accept-encoding")) or rep
        if fields.keys() & _CONDITIONS:
            return self._conditional(method, rep, fields, conn)
        return self._whole(method, rep, conn)

    def _resolve(self, mount, rest):
        """The ``Entry`` of a path no valid entry holds: every rule of
        ``appserver.static.paths``, then the representations."""
        segments = decode(rest)
        joined = os.path.join(mount.root, *segments)
        directory = os.path.dirname(joined)
        try:    # first: a sibling made while this resolves is not missed
            directory = (directory, stat_key(os.stat(directory)))
        except (OSError, ValueError):
            raise NotFound("no such file") from None
        real, info = resolve_segments(mount, segments)
        siblings, checks = [], [(joined, stat_key(info))]
        for coding, suffix in ENCODINGS:
            try:
                path, sibling = resolve_sibling(mount, segments, real, suffix)
            except NotFound:
                continue
            siblings.append((coding, path, sibling))
            checks.append((joined + suffix, stat_key(sibling)))
        name, vary = segments[-1], bool(siblings)
        encoded = tuple(Representation(name, coding, path, sibling, self.cache_control, vary)
                        for coding, path, sibling in siblings)
        return Entry(tuple(checks), directory,
                     Representation(name, None, real, info, self.cache_control, vary),
                     encoded, vary, _CONDITIONS | _ENCODING if encoded else _CONDITIONS)

    def _conditional(self, method, rep, fields, conn):
        """The answer to a request with preconditions or a range."""
        etag, mtime = rep.etag, rep.mtime
        status = _precondition(fields, etag, mtime)
        if status == 412:
            return _short(412, "Precondition Failed", method, conn)
        if status == 304:
            return Reply(304, writer.head(b"304 Not Modified", conn + rep.validators))
        size = rep.size
        span = _range(fields, size, etag, mtime)
        if span == "unsatisfiable":
            return _short(416, "Range Not Satisfiable", method, conn + rep.validators
                          + b"Accept-Ranges: bytes\r\nContent-Range: bytes */%d\r\n" % size)
        if span is None:
            return self._whole(method, rep, conn)
        offset, last = span
        count = last - offset + 1
        head = writer.head(b"206 Partial Content", b"".join([
            conn, rep.validators, rep.entity,
            b"Content-Range: bytes %d-%d/%d\r\n" % (offset, last, size),
            b"Content-Length: %d\r\n" % count]))
        return _body(206, method, rep, head, conn, offset, count)

    def _whole(self, method, rep, conn):
        head = writer.head(b"200 OK", conn + rep.whole)
        return _body(200, method, rep, head, conn, 0, rep.size)


# The Connection line: none for a kept HTTP/1.1 connection.
_KEEP_ALIVE = b"Connection: keep-alive\r\n"
_CLOSE = b"Connection: close\r\n"


def _body(code, method, rep, head, conn, offset, count):
    """A reply with ``head`` and ``count`` bytes of ``rep`` from ``offset``."""
    if method == "HEAD" or not count:
        return Reply(code, head)
    if rep.body is not None:
        return Reply(code, head, rep.body if count == rep.size
                     else rep.body[offset:offset + count])
    try:
        file = open(rep.path, "rb", buffering=0)
    except OSError:
        return _short(404, "Not Found", method, conn)
    return Reply(code, head, file=file, offset=offset, count=count)


def content_type(name):
    """The media type of a file name; text types say UTF-8."""
    kind = _TYPES.get(os.path.splitext(name)[1].lower())
    if kind is None:
        kind, encoding = mimetypes.guess_type(name, strict=False)
        if encoding is not None:        # app.js.gz is a gzip file, not JavaScript
            kind = _COMPRESSED.get(encoding)
        kind = kind or "application/octet-stream"
    if kind.startswith(_TEXT) and "charset" not in kind:
        kind += "; charset=utf-8"
    return kind


# Request fields that may make the answer other than the whole file.
_CONDITIONS = frozenset(("if-match", "if-unmodified-since", "if-none-match",
                         "if-modified-since", "range"))
_ENCODING = frozenset(("accept-encoding",))


def _fields(headers):
    """Request header fields, lowercased names; repeated ones joined by commas."""
    fields = {}
    for name, value in headers:
        key = name.lower()
        fields[key] = fields[key] + ", " + value if key in fields else value
    return fields


def accepted(header):
    """``Accept-Encoding`` -> {coding: q}; ``*`` stands for any other coding."""
    weights = {}
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[coding] = q
    return weights


def _choose_encoding(entry, header):
    """The best acceptable precompressed representation of ``entry``, or None."""
    if not header:
        return None
    weights = accepted(header)
    best = None
    for rep in entry.encoded:
        coding = rep.coding
        q = weights.get(coding, weights.get("x-gzip") if coding == "gzip" else None)
        if q is None:
            q = weights.get("*", 0.0)
        if q > 0 and (best is None or q > best[0]):
            best = (q, rep)
    return best[1] if best else None


def _etag_matches(header, etag, weak):
    """True when the list in ``header`` (or ``*``) holds ``etag``."""
    for item in header.split(","):
        tag = item.strip()
        if tag == "*":
            return True
        if weak and tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def _date(value):
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _precondition(fields, etag, mtime):
    """412, 304 or None (go on), in RFC 9110 13.2.2's order."""
    if "if-match" in fields:
        if not _etag_matches(fields["if-match"], etag, weak=False):
            return 412
    elif "if-unmodified-since" in fields:
        since = _date(fields["if-unmodified-since"])
        if since is not None and mtime > since:
            return 412
    if "if-none-match" in fields:
        return 304 if _etag_matches(fields["if-none-match"], etag, weak=True) else None
    if "if-modified-since" in fields:
        since = _date(fields["if-modified-since"])
        if since is not None and mtime <= since:
            return 304
    return None


def _range(fields, size, etag, mtime):
    """(first, last) of a single satisfiable byte range, None for the whole
    file, or "unsatisfiable"."""
    value = fields.get("range")
    if value is None or not _if_range_holds(fields.get("if-range"), etag, mtime):
        return None
    match = _RANGE.match(value.strip().replace(" ", ""))
    if match is None:
        return None                 # other units, several ranges, malformed
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:                   # the last N bytes
        suffix = int(last)
        if not suffix or not size:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(first)
    if last and int(last) < first:
        return None                 # first > last: invalid, ignored
    if first >= size:
        return "unsatisfiable"
    return first, size - 1 if not last else min(int(last), size - 1)


def _if_range_holds(value, etag, mtime):
    if value is None:
        return True
    value = value.strip()
    if value.startswith('"'):
        return value == etag        # a strong comparison
    if value.startswith("W/"):
        return False
    return _date(value) == mtime


def _short(status, reason, method, extra=b""):
    """A short plain-text answer (404, 405, 412, 416) that keeps the connection."""
    body = b"%d %s\n" % (status, reason.encode("latin-1"))
    head = writer.head(b"%d %s" % (status, reason.encode("latin-1")),
                       extra + b"Content-Type: text/plain; charset=utf-8\r\n"
                       b"Content-Length: %d\r\n" % len(body))
    return Reply(status, head, b"" if method == "HEAD" else body)
