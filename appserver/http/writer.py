"""Response framing to bytes. Sans-I/O: builds heads and chunks, sends nothing.

``head(status, header_lines)`` serialises a status line (``b"200 OK"``) and
the bytes of its header lines (already validated) as an HTTP/1.1 head and
appends ``Date`` and ``Server``; the ``Date`` line, and the head's whole tail
with ``Server`` (``tail()``), are made once for the second they name.
``head_joined(status, lines, body)`` is ``head`` for header lines given as
a list, with the body after it, in one join. ``chunk``/``LAST_CHUNK``
frame a chunked body. ``error_response`` is the one place a protocol error
becomes bytes on the wire: a short plain-text body (none after ``HEAD``) and
``Connection: close``.
"""
from __future__ import annotations

import time
from typing import List

from appserver import SERVER_SOFTWARE

LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SERVER_LINE = b"Server: %s\r\n" % SERVER_SOFTWARE.encode("latin-1")

# [start, end) of the second the lines were made for; the Date line; the
# Date and Server lines and the head's final CRLF.
_clock: list = [0.0, 0.0, b"", b""]
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
           "Nov", "Dec")


def http_date(seconds: float) -> str:
    """IMF-fixdate (RFC 9110 5.6.7): ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    t = time.gmtime(seconds)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec)


def _tick() -> list:
    """The clock entry for now, remade when the second has changed (or the
    system clock was set back)."""
    clock = _clock
    now = time.time()
    if not clock[0] <= now < clock[1]:
        second = int(now)
        line = b"Date: %s\r\n" % http_date(second).encode("latin-1")
        clock[:] = second, second + 1.0, line, line + _SERVER_LINE + b"\r\n"
    return clock


def date_line() -> bytes:
    """``Date: ...\\r\\n`` (bytes) for the current second."""
    return _tick()[2]


def tail() -> bytes:
    """The head's last lines for now (``Date``, ``Server``, the final CRLF):
    the same object all through a second, a new one the next."""
    clock = _clock
    if not clock[0] <= time.time() < clock[1]:
        clock = _tick()
    return clock[3]


def head(status: bytes, header_lines: bytes, add_date: bool = True,
         add_server: bool = True) -> bytes:
    """The response head as bytes.

    ``status`` is the status line after the version (``b"200 OK"``);
    ``header_lines`` the bytes of the ``Name: value\\r\\n`` lines, already
    validated by the caller; ``Date``/``Server`` are added unless the app sent
    its own. The version is always ours, HTTP/1.1 (RFC 9110 6.2).
    """
    return head_joined(status, [header_lines], b"", add_date, add_server)


def head_joined(status: bytes, lines: List[bytes], body: bytes = b"",
                add_date: bool = True, add_server: bool = True) -> bytes:
    """``head`` for header lines given as a list, with ``body`` right after
    the head: one join, no intermediate bytes."""
    if add_date and add_server:
        clock = _clock
        if not clock[0] <= time.time() < clock[1]:     # _tick's test, inline: per response
            clock = _tick()
        end = clock[3]
    else:                       # the app sent its own Date or Server
        end = ((date_line() if add_date else b"")
               + (_SERVER_LINE if add_server else b"") + b"\r\n")
    return b"".join([b"HTTP/1.1 ", status, b"\r\n", *lines, end, body])


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body; empty data must not be framed (it ends it)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_response(status: int, reason: str, detail: str = "",
                   head_only: bool = False) -> bytes:
    """A complete response for an error the server answers itself; to a
    ``HEAD`` request (``head_only``) the head alone, with the length the body
    would have (RFC 9110 9.3.2)."""
    body = ("%d %s\n" % (status, reason) if not detail or detail == reason
            else "%d %s: %s\n" % (status, reason, detail)).encode("latin-1", "replace")
    lines = (b"Content-Type: text/plain; charset=utf-8\r\n"
             b"Content-Length: %d\r\nConnection: close\r\n" % len(body))
    data = head(b"%d %s" % (status, reason.encode("latin-1")), lines)
    return data if head_only else data + body
