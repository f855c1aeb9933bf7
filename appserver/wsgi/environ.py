"""Build the PEP 3333 environ for one parsed request. Pure: no I/O.

``base_environ`` is computed once per listening socket (the keys that never
change); ``build_environ`` copies it and adds the request's keys, so the hot
path is one dict copy plus a handful of stores. Header names become
``HTTP_<NAME>`` (upper case, ``-`` to ``_``) except ``Content-Type`` and
``Content-Length``; repeated headers are joined with ``,`` (``Cookie`` with
``;``). ``PATH_INFO`` is percent-decoded to bytes and read as latin-1.

The ``HTTP_`` keys are the headers the client sent, and only those: the
server adds its own values under ``appserver.*`` keys. The one rewrite here
is RFC 9112 3.2.2: an absolute-form target's authority replaces ``Host`` in
``HTTP_HOST``. ``SERVER_NAME`` and ``SERVER_PORT`` are the listening
socket's address and port, whatever ``Host`` says (RFC 3875 4.1.14-15). A
unix socket (its peer has no address: ``peer`` is empty) has no port to give:
there ``SERVER_PORT`` is the port of ``Host`` as in Gunicorn (the scheme's
when ``Host`` has none), and ``SERVER_NAME`` stays ``localhost``. Trusted-proxy
rewrites come later, in ``appserver.wsgi.proxy``.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Dict, Tuple, Union
from urllib.parse import unquote_to_bytes

from appserver import SERVER_SOFTWARE
from appserver.wsgi.response import FileWrapper

if TYPE_CHECKING:
    from appserver.http.parser import Request
    from appserver.net.sockets import Listener

# A PEP 3333 environ.
Environ = Dict[str, Any]
# The client's socket address ((address, port, ...)); empty on a unix socket.
Peer = Union[Tuple[Any, ...], str]

_SPECIAL = {"CONTENT_TYPE": "CONTENT_TYPE", "CONTENT_LENGTH": "CONTENT_LENGTH"}
_KEY_CACHE: Dict[str, str] = {}
_PORTS: Dict[str, str] = {}              # Host value -> its port, or ""


def base_environ(listener: Listener, multiprocess: bool) -> Environ:
    """The keys shared by every request that arrives on ``listener``."""
    if listener.kind == "tcp":
        server_name, server_port = listener.address[0], str(listener.address[1])
    else:
        server_name, server_port = "localhost", "80"    # never empty (PEP 3333)
    return {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "SCRIPT_NAME": "",
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
    }


def header_key(name: str) -> str:
    """The environ key for a header name (cached: names repeat a lot)."""
    key = _KEY_CACHE.get(name)
    if key is None:
        upper = name.upper().replace("-", "_")
        key = _SPECIAL.get(upper) or "HTTP_" + upper
        if len(_KEY_CACHE) < 1000:
            _KEY_CACHE[name] = key
    return key


def decode_path(path: str) -> str:
    """Percent-decode a request path to the latin-1 str PEP 3333 asks for."""
    if "%" not in path:
        return path
    return unquote_to_bytes(path).decode("latin-1")


def build_environ(base: Environ, request: Request, peer: Peer,
                  wsgi_input: Any) -> Environ:
    """The environ for ``request`` received from ``peer`` on a listener."""
    environ = base.copy()
    path = request.path
    environ["REQUEST_METHOD"] = request.method
    environ["PATH_INFO"] = decode_path(path) if "%" in path else path
    environ["QUERY_STRING"] = request.query
    environ["RAW_URI"] = environ["REQUEST_URI"] = request.target
    environ["SERVER_PROTOCOL"] = request.version
    environ["wsgi.input"] = wsgi_input
    if peer:
        environ["REMOTE_ADDR"] = peer[0]
        environ["REMOTE_PORT"] = str(peer[1])
    else:
        environ["REMOTE_ADDR"] = ""
    keys = _KEY_CACHE
    for name, value in request.headers:
        key = keys.get(name) or header_key(name)
        if key in environ and key.startswith("HTTP_"):
            sep = "; " if key == "HTTP_COOKIE" else ","
            environ[key] += sep + value
        else:
            environ[key] = value
    host = request.host
    if host:
        environ["HTTP_HOST"] = host     # absolute-form wins over Host
        if not peer:                    # a unix socket: no port of its own
            port = _PORTS.get(host)
            environ["SERVER_PORT"] = (port if port is not None else _port_of(host)) or (
                "443" if environ["wsgi.url_scheme"] == "https" else "80")
    if request.chunked:
        environ.pop("CONTENT_LENGTH", None)
    return environ


def _port_of(host: str) -> str:
    """The port of a Host value, or "" (cached, like header keys)."""
    port = host[host.find("]") + 1:] if host.startswith("[") else host
    port = port.partition(":")[2]
    if len(_PORTS) < 1000:
        _PORTS[host] = port
    return port
