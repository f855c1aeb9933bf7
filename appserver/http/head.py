"""What a request head means (RFC 9110, RFC 9112): pure functions, no state.

Contract: ``request_line(line)`` splits and checks a request line
(``check_request_line`` checks the target as well, for a head still arriving);
``split_target(method, target)`` gives (path, query, authority or None) for
the origin, absolute and asterisk forms; ``semantics(req, groups,
body_limit)`` applies the rules that need the whole field section (one Host,
framing by Transfer-Encoding or Content-Length, persistence, Expect) to a
``Request`` and returns its framing: ``"none"``, ``"length"`` or
``"chunked"``. ``groups`` holds the values of the framing-relevant fields by
lower-case name (``body.parse_fields`` fills it). Violations raise
``HTTPError`` subclasses.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable, List, Optional, Set, Tuple

from .body import TOKEN, Groups
from .errors import (
    BadRequest, ExpectationFailed, MethodNotAllowed, NotImplemented_,
    PayloadTooLarge, VersionNotSupported,
)

if TYPE_CHECKING:
    from .parser import Request

_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
_TARGET = re.compile(r"[\x21\x22\x24-\x7e]+")  # VCHAR except "#"
_ABSOLUTE = re.compile(r"(?i:https?)://([^/?]*)([^?]*)(?:\?(.*))?")
# host[:port]: an IP-literal or a reg-name (RFC 3986), minus "," which only
# appears when a proxy has joined two Host lines.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]+)(?::[0-9]{0,5})?")
_VALID_HOSTS: Set[str] = set()     # Host values checked before: they repeat a lot
_VALID_HOSTS_MAX = 1000


def request_line(line: str) -> Tuple[str, str, str]:
    """'METHOD SP target SP version' -> the three parts, checked."""
    parts = line.split(" ")
    if len(parts) != 3:
        if len(parts) == 2 and parts[1]:
            raise BadRequest("request line without an HTTP version (HTTP/0.9 is "
                             "not supported)")
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


def check_request_line(line: str) -> None:
    """Raise what ``request_line`` and ``split_target`` would for ``line``."""
    method, target, _ = request_line(line)
    split_target(method, target)


def split_target(method: str, target: str) -> Tuple[str, str, Optional[str]]:
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


def token_list(values: Iterable[str]) -> List[str]:
    """Comma-separated list field lines -> lowercased, non-empty elements."""
    items = ",".join(values).lower().split(",")
    return [item.strip(" \t") for item in items if item.strip(" \t")]


def _transfer_coding(values: List[str]) -> None:
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


def select_framing(groups: Groups, http11: bool,
                   body_limit: int) -> Tuple[str, Optional[int]]:
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


def semantics(req: Request, groups: Groups, body_limit: int) -> str:
    """Host, framing, persistence, expectations; returns the framing."""
    http11 = req.version == "HTTP/1.1"
    hosts = groups.get("host")
    if hosts is not None:
        if len(hosts) > 1:
            raise BadRequest("duplicate Host header")
        host = hosts[0]
        if host not in _VALID_HOSTS:
            if _HOST.fullmatch(host) is None:
                raise BadRequest("invalid Host header")
            if len(_VALID_HOSTS) < _VALID_HOSTS_MAX:
                _VALID_HOSTS.add(host)
        if req.host is None:
            req.host = host
        if len(groups) == 1:        # the common GET: nothing else to do
            return "none"
    elif http11:
        raise BadRequest("missing Host header")
    if len(groups.get("content-type", ())) > 1:
        raise BadRequest("duplicate Content-Type")
    framing = "none"
    if "content-length" in groups or "transfer-encoding" in groups:
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
