"""Response framing to bytes. Sans-I/O: builds heads and chunks, sends nothing.

``head(version, status, headers)`` serialises a status line and header list
(already validated) and appends ``Date`` and ``Server``; the ``Date`` value is
cached for the second it names. ``chunk``/``LAST_CHUNK`` frame a chunked body.
``error_response`` is the one place a protocol error becomes bytes on the
wire: a short plain-text body and ``Connection: close``.
"""

import time
from email.utils import formatdate

from appserver import SERVER_SOFTWARE

LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SERVER_LINE = "Server: %s\r\n" % SERVER_SOFTWARE

_date_cache = [0, ""]


def date_line():
    """``Date: ...\\r\\n`` for the current second (recomputed once a second)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = "Date: %s\r\n" % formatdate(now, usegmt=True)
    return _date_cache[1]


def head(version, status, header_lines, add_date=True, add_server=True):
    """The response head as bytes.

    ``header_lines`` is a str of ``Name: value\\r\\n`` lines already validated
    by the caller; ``Date``/``Server`` are added unless the app sent its own.
    """
    return ("%s %s\r\n%s%s%s\r\n" % (
        version, status, header_lines, date_line() if add_date else "",
        _SERVER_LINE if add_server else "")).encode("latin-1")


def chunk(data):
    """One chunk of a chunked body; empty data must not be framed (it ends it)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_response(status, reason, detail=""):
    """A complete response for an error the server answers itself."""
    body = ("%d %s\n" % (status, reason) if not detail or detail == reason
            else "%d %s: %s\n" % (status, reason, detail)).encode("latin-1", "replace")
    lines = ("Content-Type: text/plain; charset=utf-8\r\n"
             "Content-Length: %d\r\nConnection: close\r\n" % len(body))
    return head("HTTP/1.1", "%d %s" % (status, reason), lines) + body
