"""The access log: one line per request, in a format compiled once.

``compile_format(fmt)`` turns a Gunicorn-style format (``%(h)s``, ``%(r)s``,
``%({x-request-id}i)s``, ...) into a ``Format``: a ``%``-template and one small
getter per atom, so writing a line costs one call per atom and one string
formatting, whatever the format. An unknown atom raises ``ConfigError`` at
startup. ``fmt == "json"`` gives ``JSONFormat``: one JSON object per line with
typed fields (``status``, ``bytes`` and ``pid`` ints, ``duration`` a float in
seconds), escaped by ``json`` so no value can forge a field or a line.

``AccessLog(path, fmt)`` writes through the ``appserver.access`` logger (so a
``--log-config`` file can route it anywhere). When it is off, ``enabled`` is
False and callers skip it entirely. ``write(environ, status, sent, duration,
response=None)``: ``status`` an int or a status line, ``sent`` the body bytes,
``duration`` seconds, ``response`` (optional) what ``%({name}o)s`` reads.
Text atoms a client controls are escaped: ``"``, ``\\`` and control
characters cannot end a field or start a new line.
"""

import json
import logging
import os
import re
import sys
import time

from appserver.errors import ConfigError

access_logger = logging.getLogger("appserver.access")

COMBINED = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
JSON = "json"

_ESCAPES = {c: "\\x%02x" % c for c in range(32)}
_ESCAPES.update({0x7f: "\\x7f", ord('"'): '\\"', ord("\\"): "\\\\"})
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\]')
_ATOM = re.compile(r"%\((\{[^}]*\}[ioe]|[A-Za-z])\)s")


def quote(value):
    """Escape what would let a client forge fields or lines of the log."""
    if _UNSAFE.search(value) is None:
        return value
    return value.translate(_ESCAPES)


_clf_cache = [0, ""]


def clf_time():
    """``[10/Oct/2026:13:55:36 +0000]`` for now (recomputed once a second)."""
    now = int(time.time())
    if _clf_cache[0] != now:
        _clf_cache[0] = now
        _clf_cache[1] = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(now))
    return _clf_cache[1]


def _env(key):
    return lambda e, s, b, d, r: quote(e.get(key) or "-")


def _request_line(e, s, b, d, r):
    return quote("%s %s %s" % (e.get("REQUEST_METHOD", "-"), e.get("RAW_URI", "-"),
                               e.get("SERVER_PROTOCOL", "-")))


def _user(e, s, b, d, r):
    return quote(e.get("REMOTE_USER") or "-")


_ATOMS = {
    "h": lambda e, s, b, d, r: e.get("REMOTE_ADDR") or "-",
    "l": lambda e, s, b, d, r: "-",
    "u": _user,
    "t": lambda e, s, b, d, r: clf_time(),
    "r": _request_line,
    "m": _env("REQUEST_METHOD"),
    "U": _env("PATH_INFO"),
    "q": _env("QUERY_STRING"),
    "H": _env("SERVER_PROTOCOL"),
    "s": lambda e, s, b, d, r: str(s)[:3],
    "B": lambda e, s, b, d, r: str(b),
    "b": lambda e, s, b, d, r: str(b) if b else "-",
    "f": _env("HTTP_REFERER"),
    "a": _env("HTTP_USER_AGENT"),
    "T": lambda e, s, b, d, r: str(int(d)),
    "M": lambda e, s, b, d, r: str(int(d * 1000)),
    "D": lambda e, s, b, d, r: str(int(d * 1000000)),
    "L": lambda e, s, b, d, r: "%.6f" % d,
    "p": lambda e, s, b, d, r: "<%d>" % os.getpid(),
}


def response_header(response, name):
    """The first value of header ``name`` in ``response``'s head, or None."""
    if response is None:
        return None
    prefix = name.lower() + ":"
    for line in response.header_lines():
        if line[:len(prefix)].lower() == prefix:
            return line[len(prefix):].strip()
    return None


def _braced(atom):
    name, kind = atom[1:-2], atom[-1]
    if kind == "i":
        return _env(_header_key(name))
    if kind == "o":
        return lambda e, s, b, d, r: quote(response_header(r, name) or "-")
    upper = name.upper()
    return lambda e, s, b, d, r: quote(str(e.get(name, e.get(upper)) or "-"))


def _header_key(name):
    upper = name.upper().replace("-", "_")
    return upper if upper in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + upper


_iso_cache = [0, "", ""]


def iso_time():
    """``2026-11-25T03:06:26.123+0000`` for now (strftime once a second)."""
    now = time.time()
    second = int(now)
    if _iso_cache[0] != second:
        local = time.localtime(second)
        _iso_cache[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", local),
                         time.strftime("%z", local)]
    return "%s.%03d%s" % (_iso_cache[1], (now - second) * 1000, _iso_cache[2])


class Format:
    """A text format: ``render(...)`` is one ``%`` over the atoms' values."""

    def __init__(self, template, getters):
        self.template = template
        self.getters = tuple(getters)

    def render(self, environ, status, sent, duration, response):
        return self.template % tuple([get(environ, status, sent, duration, response)
                                      for get in self.getters])


def compile_format(fmt):
    """A ``Format`` (or ``JSONFormat``) for ``fmt``; ConfigError if it is bad."""
    if fmt is None:
        fmt = COMBINED
    if fmt.strip().lower() == JSON:
        return JSONFormat()
    parts, getters, pos = [], [], 0
    for match in _ATOM.finditer(fmt):
        literal = fmt[pos:match.start()]
        atom = match.group(1)
        if atom[0] == "{":
            getters.append(_braced(atom))
        elif atom in _ATOMS:
            getters.append(_ATOMS[atom])
        else:
            raise ConfigError("access-log-format: unknown atom %%(%s)s; known: %s, "
                              "%%({header}i)s, %%({header}o)s, %%({variable}e)s"
                              % (atom, " ".join(sorted(_ATOMS))))
        parts.append(_literal(literal) + "%s")
        pos = match.end()
    parts.append(_literal(fmt[pos:]))
    return Format("".join(parts), getters)


def _literal(text):
    """Literal text of a format: ``%%`` is a percent sign, as in Gunicorn."""
    return text.replace("%%", "\0").replace("%", "%%").replace("\0", "%%")


class JSONFormat:
    """One JSON object per line; typed fields, escaped by ``json``."""

    _encode = json.JSONEncoder(separators=(", ", ": ")).encode

    def render(self, environ, status, sent, duration, response):
        get = environ.get
        return self._encode({
            "time": iso_time(),
            "remote_addr": get("REMOTE_ADDR") or None,
            "method": get("REQUEST_METHOD"),
            "uri": get("RAW_URI"),
            "path": get("PATH_INFO"),
            "query": get("QUERY_STRING"),
            "protocol": get("SERVER_PROTOCOL"),
            "status": int(str(status)[:3]),
            "bytes": sent,
            "duration": round(duration, 6),
            "referer": get("HTTP_REFERER"),
            "user_agent": get("HTTP_USER_AGENT"),
            "request_id": get("appserver.request_id"),
            "static": "appserver.static" in environ,
            "pid": os.getpid(),
        })


class AccessLog:
    """One line per request in the configured format, or nothing."""

    def __init__(self, path, fmt=None):
        self.format = compile_format(fmt)
        self.enabled = path is not None
        for handler in list(access_logger.handlers):
            access_logger.removeHandler(handler)
            handler.close()
        access_logger.propagate = False
        if self.enabled:
            handler = (logging.StreamHandler(sys.stdout) if path == "-"
                       else logging.FileHandler(path, encoding="utf-8"))
            handler.setFormatter(logging.Formatter("%(message)s"))
            access_logger.addHandler(handler)
            access_logger.setLevel(logging.INFO)

    def refresh(self):
        """Follow a ``--log-config`` that gave the access logger handlers."""
        self.enabled = bool(access_logger.handlers) and access_logger.isEnabledFor(
            logging.INFO)

    def write(self, environ, status, sent, duration, response=None):
        """Log one request (nothing when the access log is off)."""
        if self.enabled:
            access_logger.info(self.format.render(environ, status, sent, duration,
                                                  response))
