"""Trusted reverse proxies: X-Forwarded-*, RFC 7239 ``Forwarded``, SCRIPT_NAME.

Pure: no I/O. ``Rewriter(cfg)`` is built once per worker; its ``rewrite`` is
called on each request's environ after ``build_environ``, before the app
(docs/proxy.md has the user's view):

* The peer (``REMOTE_ADDR``: with the PROXY protocol the address it gave; a
  unix-socket peer, ``""``, is always trusted) is trusted when it is in
  ``forwarded-allow-ips`` (parsed once into networks; decisions cached).
* From a trusted peer, the kind of headers chosen by ``forwarded-headers``
  (``x-forwarded`` or ``forwarded``) is applied and the other kind removed;
  from any other peer every forwarding header is removed, nothing applied.
* The client is the rightmost hop of ``X-Forwarded-For`` (or ``for=`` of
  ``Forwarded``) that is not a trusted proxy, else the leftmost hop; a
  malformed hop on the way voids the header. It sets ``REMOTE_ADDR`` and
  ``REMOTE_PORT`` (removed when the hop has no port).
* The scheme: each header named in ``secure-scheme-headers`` (Gunicorn's
  default: ``X-Forwarded-Proto: https``, ``X-Forwarded-Ssl: on``,
  ``X-Forwarded-Protocol: ssl``) that is present says https when its value
  is exactly the one named, else http; they must agree, every item of a
  comma-joined value too (RFC 9110 5.3: repeated lines are one list), else
  ``BadRequest`` (400, Gunicorn's InvalidSchemeHeaders). With ``Forwarded``,
  ``proto=`` (http/https) says it. ``X-Forwarded-Port`` sets
  ``SERVER_PORT`` and the port of ``HTTP_HOST``; with ``forwarded-host`` (off
  by default) the host also sets ``HTTP_HOST`` and ``SERVER_NAME``
  (``X-Forwarded-*``: rightmost value; ``Forwarded``: the client's element).
  Invalid values are ignored.
* A trusted ``X-Forwarded-Prefix`` sets ``SCRIPT_NAME`` (the proxy removed the
  prefix); a trusted ``X-Script-Name``, else ``script-name``, moves the prefix
  from ``PATH_INFO`` to ``SCRIPT_NAME``, raising ``NotFound`` (404) for a
  path outside it.

Without any forwarding header and ``script-name``, a call is seven dict
lookups and one more per header of ``secure-scheme-headers`` beyond
``X-Forwarded-Proto`` (two by default).
``config.loading`` warns at start about ``forwarded-allow-ips *``.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple

from appserver.config.convert import Network, parse_networks
from appserver.config.settings import BY_KEY
from appserver.http.errors import BadRequest, HTTPError
from appserver.wsgi.environ import Environ

if TYPE_CHECKING:
    from appserver.config.loading import Config

# A hop: (host, port or None); None when malformed.
Node = Optional[Tuple[str, Optional[str]]]
# secure-scheme-headers as (environ key, the value that means https).
SchemeHeaders = Tuple[Tuple[str, str], ...]

XFF, XFP, XFH, XFPORT = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
                         "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT")
FORWARDED, PREFIX, SCRIPT = "HTTP_FORWARDED", "HTTP_X_FORWARDED_PREFIX", "HTTP_X_SCRIPT_NAME"
X_KEYS = (XFF, XFP, XFH, XFPORT)
ALL_KEYS = X_KEYS + (FORWARDED, PREFIX, SCRIPT)
DEFAULT_PORTS = {"http": "80", "https": "443"}
CACHE_SIZE = 4096

_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]+)(?::[0-9]{1,5})?")
_IDENT = re.compile(r"unknown|_[A-Za-z0-9._-]+", re.I)
_PORT = re.compile(r"[0-9]{1,5}|_[A-Za-z0-9._-]+")
_PAIR = re.compile(r'[ \t]*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)='
                   r'("(?:[^"\\]|\\.)*"|[^;,\s"]*)[ \t]*([;,]|$)')
_PATH = re.compile(r"/[\x21\x22\x24-\x3e\x40-\x7e]*")     # no "?", "#", space


class NotFound(HTTPError):
    status, reason = 404, "Not Found"


class AllowList:
    """``"127.0.0.1,::1,10.0.0.0/8"`` or ``"*"``; ``host in allow`` tells."""

    def __init__(self, text: object) -> None:
        self.any, self.networks = parse_networks(text)
        self._cache: Dict[str, bool] = {}

    def __contains__(self, host: str) -> bool:
        if not host or self.any:
            return True                 # "" is a unix-socket peer
        known = self._cache.get(host)
        if known is None:
            known = _in_networks(host, self.networks)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[host] = known
        return known


def _in_networks(host: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


class Rewriter:
    """The per-worker policy; see the module comment."""

    def __init__(self, cfg: Config) -> None:
        self.trusted = AllowList(cfg.forwarded_allow_ips)
        self.use_forwarded = cfg.forwarded_headers == "forwarded"
        self.host = getattr(cfg, "forwarded_host", False)
        self.script_name = normalize_prefix(cfg.script_name or "")
        self.schemes = scheme_headers(getattr(
            cfg, "secure_scheme_headers", BY_KEY["secure_scheme_headers"].default))
        scheme_keys = tuple(key for key, _ in self.schemes if key not in ALL_KEYS)
        self.keys = ALL_KEYS + scheme_keys              # every header this removes
        self.x_keys = X_KEYS + scheme_keys
        # The first two looked up like the fixed ones ("" is never a key),
        # any further ones in a loop: Gunicorn's default has two.
        self.scheme1, self.scheme2 = (scheme_keys + ("", ""))[:2]
        self.schemes_more = scheme_keys[2:]

    def rewrite(self, environ: Environ) -> None:
        """Apply the rules to ``environ``; raises ``NotFound`` outside the
        prefix, ``BadRequest`` when the scheme headers disagree."""
        if (XFF not in environ and XFP not in environ and XFH not in environ
                and XFPORT not in environ and FORWARDED not in environ
                and PREFIX not in environ and SCRIPT not in environ
                and self.scheme1 not in environ and self.scheme2 not in environ
                and not (self.schemes_more and _any_in(environ, self.schemes_more))):
            if self.script_name:
                mount(environ, self.script_name)
            return
        if environ["REMOTE_ADDR"] in self.trusted:
            self._trusted(environ)
        else:
            for key in self.keys:
                environ.pop(key, None)
            if self.script_name:
                mount(environ, self.script_name)

    __call__ = rewrite

    def _trusted(self, environ: Environ) -> None:
        if self.use_forwarded:
            for key in self.x_keys:
                environ.pop(key, None)
            apply_forwarded(environ, environ.get(FORWARDED), self.trusted, self.host)
        else:
            environ.pop(FORWARDED, None)
            apply_x_forwarded(environ, self.trusted, self.host, self.schemes)
        _prefix(environ, self.script_name)


def _any_in(environ: Environ, keys: Sequence[str]) -> bool:
    return any(key in environ for key in keys)


def scheme_headers(table: Mapping[str, str]) -> SchemeHeaders:
    """``{"X-FORWARDED-SSL": "on"}`` -> ``(("HTTP_X_FORWARDED_SSL", "on"),)``."""
    return tuple(("HTTP_" + name.upper().replace("-", "_"), value)
                 for name, value in table.items())


def apply_x_forwarded(environ: Environ, trusted: AllowList, host: bool = True,
                      schemes: SchemeHeaders = ((XFP, "https"),)) -> None:
    """Apply ``X-Forwarded-For/-Port``, the ``schemes`` headers (and
    ``X-Forwarded-Host`` with ``host``) from a trusted peer."""
    value = environ.get(XFF)
    if value:
        nodes = [parse_node(hop) for hop in value.split(",")]
        index = pick_client(nodes, trusted)
        if index is not None:
            _set_client(environ, nodes[index])
    _set_origin(environ, secure_scheme(environ, schemes),
                _last(environ.get(XFH)) if host else None, _last(environ.get(XFPORT)))


def secure_scheme(environ: Environ, schemes: SchemeHeaders) -> Optional[str]:
    """"https" or "http" as the ``schemes`` headers present say (None when
    none is); ``BadRequest`` when they disagree."""
    scheme = None
    for key, secure in schemes:
        value = environ.get(key)
        if value is None:
            continue
        items = [item.strip(" \t") for item in value.split(",")]
        for item in [item for item in items if item] or [""]:
            said = "https" if item == secure else "http"
            if scheme is None:
                scheme = said
            elif said != scheme:
                raise BadRequest("contradictory scheme headers (%s)" % ", ".join(
                    k[5:].replace("_", "-").title() for k, _ in schemes if k in environ))
    return scheme


def apply_forwarded(environ: Environ, value: Optional[str], trusted: AllowList,
                    host: bool = True) -> None:
    """Apply the RFC 7239 ``Forwarded`` header ``value`` from a trusted peer
    (its ``host=`` only with ``host``)."""
    elements = parse_forwarded(value) if value else None
    if not elements:
        return
    nodes = [parse_node(e["for"]) if "for" in e else ("", None) for e in elements]
    index = pick_client(nodes, trusted)
    if index is None:
        return
    element = elements[index]
    _set_client(environ, nodes[index])
    _set_origin(environ, element.get("proto"), element.get("host") if host else None,
                None)


def pick_client(nodes: Sequence[Node], trusted: AllowList) -> Optional[int]:
    """Index of the rightmost node that is not a trusted proxy, else 0; None
    when a node on the way is malformed. A node is ``(host, port)``, ``("",
    None)`` for a ``Forwarded`` element without ``for=``, or None."""
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if node is None:
            return None
        if not _is_proxy(node[0], trusted):
            return index
    return 0 if nodes else None


def _is_proxy(host: str, trusted: AllowList) -> bool:
    return bool(host) and _IDENT.fullmatch(host) is None and host in trusted


@functools.lru_cache(maxsize=CACHE_SIZE)
def parse_node(text: Optional[str]) -> Node:
    """``1.2.3.4``, ``1.2.3.4:80``, ``::1``, ``[::1]:80``, ``unknown``,
    ``_hidden[:_port]`` -> ``(host, port or None)``; None when malformed."""
    text = text.strip().strip('"') if text else ""
    host, port = text, None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] or None
    elif text.count(":") == 1:
        host, port = text.split(":")
    if port is not None and not _PORT.fullmatch(port):
        return None
    if _IDENT.fullmatch(host):
        return host, port
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        return None


def parse_forwarded(value: str) -> Optional[List[Dict[str, str]]]:
    """RFC 7239 ``Forwarded`` -> a list of ``{name: value}``; None if malformed.

    Values may be tokens or quoted strings; an unquoted value may also hold
    ``:`` and ``[]`` (some proxies do not quote IPv6 or ports).
    """
    elements: List[Dict[str, str]] = []
    current: Dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _PAIR.match(value, pos)
        if match is None or match.end() == pos:
            return None
        name, raw, sep = match.group(1).lower(), match.group(2), match.group(3)
        if name in current:
            return None
        current[name] = _unquote(raw)
        pos = match.end()
        if sep != ";":
            elements.append(current)
            current = {}
    if current:
        elements.append(current)
    return elements


def _unquote(raw: str) -> str:
    if raw.startswith('"'):
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw


def _last(value: Optional[str]) -> Optional[str]:
    return value.rpartition(",")[2].strip() if value else None


def _set_client(environ: Environ, node: Node) -> None:
    if node is None or not node[0]:
        return
    environ["REMOTE_ADDR"] = node[0]
    if node[1] and node[1].isdigit():
        environ["REMOTE_PORT"] = node[1]
    else:
        environ.pop("REMOTE_PORT", None)


def _set_origin(environ: Environ, proto: Optional[str], host: Optional[str],
                port: Optional[str]) -> None:
    """Scheme, then host (and its port), then an explicit port."""
    if proto:
        proto = proto.lower()
        if proto in DEFAULT_PORTS:
            environ["wsgi.url_scheme"] = proto
    if host and _HOST.fullmatch(host):
        environ["HTTP_HOST"] = host
    if port and port.isdigit() and 0 < int(port) < 65536:
        _set_port(environ, str(int(port)))
    elif proto or host:
        _server_from_host(environ)


def _split_host(host: str) -> Tuple[str, str]:
    if host.startswith("["):
        end = host.find("]")
        return host[:end + 1], host[end + 2:]
    name, _, port = host.partition(":")
    return name, port


def _server_from_host(environ: Environ) -> None:
    host = environ.get("HTTP_HOST")
    if host:
        name, port = _split_host(host)
        environ["SERVER_NAME"] = name
        environ["SERVER_PORT"] = port or DEFAULT_PORTS[environ["wsgi.url_scheme"]]


def _set_port(environ: Environ, port: str) -> None:
    """``SERVER_PORT`` and the port of ``HTTP_HOST`` (omitted when default)."""
    environ["SERVER_PORT"] = port
    host = environ.get("HTTP_HOST")
    if host:
        name = environ["SERVER_NAME"] = _split_host(host)[0]
        default = port == DEFAULT_PORTS[environ["wsgi.url_scheme"]]
        environ["HTTP_HOST"] = name if default else name + ":" + port


def normalize_prefix(prefix: str) -> str:
    """``"app/"`` -> ``"/app"``; ``""`` or ``"/"`` -> ``""``."""
    prefix = prefix.strip().rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    return prefix


def _prefix(environ: Environ, configured: str) -> None:
    """SCRIPT_NAME from a trusted header, else from the setting."""
    removed = _header_prefix(environ.get(PREFIX))
    if removed is not None:
        if removed:
            environ["SCRIPT_NAME"] = removed + environ["SCRIPT_NAME"]
        return
    present = _header_prefix(environ.get(SCRIPT))
    prefix = present if present is not None else configured
    if prefix:
        mount(environ, prefix)


def _header_prefix(value: Optional[str]) -> Optional[str]:
    value = _last(value)
    if value is None or not _PATH.fullmatch(value):
        return None
    return normalize_prefix(value)


def mount(environ: Environ, prefix: str) -> None:
    """Move ``prefix`` from ``PATH_INFO`` to ``SCRIPT_NAME``; 404 outside it."""
    path = environ["PATH_INFO"]
    if path == "*":
        return
    if path != prefix and not path.startswith(prefix + "/"):
        raise NotFound("the path is outside the script name %s" % prefix)
    environ["SCRIPT_NAME"] = prefix
    environ["PATH_INFO"] = path[len(prefix):]
