"""HTTP errors the server answers itself, each carrying its HTTP status.

The parser raises the protocol errors a client can cause; the request
handler uses ``RequestTimeout``, ``InternalServerError`` and
``GatewayTimeout`` for what goes wrong inside an app call.
``error_bytes`` is the one place that turns any of them into a response
(``appserver.http.writer.error_response``), for the client connection and the
admin listener alike; the connection is closed after it (``Connection:
close``). ``detail`` is for the log and the short plain-text body; it never
echoes raw client bytes unescaped.

Static files' 404, 405, 412 and 416 are not such errors: they are the static
room's ordinary answers (``appserver.static.reply``), with their own headers
(``Allow``, ``Content-Range``, validators), and they keep the connection.
"""
from __future__ import annotations

from appserver.http import writer


def error_bytes(error: HTTPError, head_only: bool = False) -> bytes:
    """The one place an ``HTTPError`` becomes bytes on the wire: its status,
    reason and detail; the head alone when the request was a ``HEAD``."""
    return writer.error_response(error.status, error.reason, error.detail, head_only)


class HTTPError(Exception):
    """A request that cannot be served; answered with ``status`` and closed."""

    status = 400
    reason = "Bad Request"
    head_only = False       # the refused request was a HEAD: answer without a body

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.reason)
        self.detail = detail or self.reason


class BadRequest(HTTPError):
    status, reason = 400, "Bad Request"


class IncompleteRequest(BadRequest):
    """The client closed the connection in the middle of a request."""


class MethodNotAllowed(HTTPError):
    status, reason = 405, "Method Not Allowed"


class RequestTimeout(HTTPError):
    status, reason = 408, "Request Timeout"


class PayloadTooLarge(HTTPError):
    status, reason = 413, "Content Too Large"


class URITooLong(HTTPError):
    status, reason = 414, "URI Too Long"


class ExpectationFailed(HTTPError):
    status, reason = 417, "Expectation Failed"


class HeaderFieldsTooLarge(HTTPError):
    status, reason = 431, "Request Header Fields Too Large"


class InternalServerError(HTTPError):
    """The app failed before its response began (what failed is in the log)."""
    status, reason = 500, "Internal Server Error"


class NotImplemented_(HTTPError):
    status, reason = 501, "Not Implemented"


class GatewayTimeout(HTTPError):
    """The app call ran past ``timeout``."""
    status, reason = 504, "Gateway Timeout"


class VersionNotSupported(HTTPError):
    status, reason = 505, "HTTP Version Not Supported"
