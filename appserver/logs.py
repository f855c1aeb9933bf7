"""Error and access logs.

``setup(cfg)`` configures the ``appserver`` error logger (stderr by default,
or ``error-logfile``) at ``log-level``, and the access log when
``access-logfile`` is set (``-`` is stdout). Every line of the error log reads
``[2026-11-25 02:50:00 +0000] [PID] [LEVEL] message``. ``AccessLog.write``
renders the Apache combined format; it costs nothing when the log is off.
``reopen()`` reopens the files (after log rotation).
"""

import logging
import sys
import time

error_log = logging.getLogger("appserver")

_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
_DATEFMT = "%Y-%m-%d %H:%M:%S %z"


def _handler(path, default_stream):
    if path in (None, "-"):
        return logging.StreamHandler(default_stream)
    return logging.FileHandler(path, encoding="utf-8")


def setup(cfg):
    """Configure the error log and return the ``AccessLog``."""
    for handler in list(error_log.handlers):
        error_log.removeHandler(handler)
        handler.close()
    handler = _handler(cfg.error_logfile, sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, _DATEFMT))
    error_log.addHandler(handler)
    error_log.setLevel(cfg.log_level.upper())
    error_log.propagate = False
    return AccessLog(cfg.access_logfile)


def error_stream():
    """The file object the error log writes to (for C-level stack dumps)."""
    for handler in error_log.handlers:
        stream = getattr(handler, "stream", None)
        if stream is not None and hasattr(stream, "fileno"):
            return stream
    return None


def reopen():
    """Reopen the error log file and the access log file in this process."""
    for handler in error_log.handlers + _access_logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.close()
                handler.stream = handler._open()
            finally:
                handler.release()


_access_logger = logging.getLogger("appserver.access")


class AccessLog:
    """One line per request in the Apache combined format, or nothing."""

    def __init__(self, path):
        self.enabled = path is not None
        for handler in list(_access_logger.handlers):
            _access_logger.removeHandler(handler)
            handler.close()
        _access_logger.propagate = False
        if self.enabled:
            handler = _handler(path, sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            _access_logger.addHandler(handler)
            _access_logger.setLevel(logging.INFO)

    def write(self, environ, status, sent, duration):
        """Log one request; ``status`` is the status line or code, ``sent`` bytes."""
        if not self.enabled:
            return
        get = environ.get
        line = '%s - %s [%s] "%s %s %s" %s %s "%s" "%s"' % (
            get("REMOTE_ADDR", "-"), get("REMOTE_USER") or "-",
            time.strftime("%d/%b/%Y:%H:%M:%S %z"),
            get("REQUEST_METHOD", "-"), _quote(get("RAW_URI", "-")),
            get("SERVER_PROTOCOL", "-"), str(status)[:3], sent or "-",
            _quote(get("HTTP_REFERER", "-")), _quote(get("HTTP_USER_AGENT", "-")))
        _access_logger.info(line)


_ESCAPES = {c: "\\x%02x" % c for c in range(32)}
_ESCAPES.update({0x7f: "\\x7f", ord('"'): '\\"', ord("\\"): "\\\\"})


def _quote(value):
    """Escape what would let a client forge fields or lines of the log."""
    return value.translate(_ESCAPES)
