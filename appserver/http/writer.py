"""Response framing to bytes. Sans-I/O: builds heads and chunks, sends nothing.

``head(version, status, headers)`` serialises a status line and header list
(already validated) and appends ``Date`` and ``Server``; the ``Date`` value is
cached for the second it names. ``chunk``/``LAST_CHUNK`` frame a chunked body.
``error_response`` is the one place a protocol error becomes bytes on the
wire: a short plain-text body and ``Connection: close``.
"""

import time

from appserver import SERVER_SOFTWARE

LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SERVER_LINE = "Server: %s\r\n" % SERVER_SOFTWARE

_date_cache = [0, ""]
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
           "Nov", "Dec")


def http_date(seconds):
    """IMF-fixdate (RFC 9110 5.6.7): ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    t = time.gmtime(seconds)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec)


def date_line():
    """``Date: ...\\r\\n`` for the current second (recomputed once a second)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = "Date: %s\r\n" % http_date(now)
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
