"""Recognise the environment variables Kubernetes service links create.

Kubernetes gives every container variables for each Service in its namespace
(unless the pod sets ``enableServiceLinks: false``): for a Service named
``appserver-hello`` on port 80 named ``http``::

    APPSERVER_HELLO_SERVICE_HOST=10.0.0.11
    APPSERVER_HELLO_SERVICE_PORT=80
    APPSERVER_HELLO_SERVICE_PORT_HTTP=80
    APPSERVER_HELLO_PORT=tcp://10.0.0.11:80
    APPSERVER_HELLO_PORT_80_TCP=tcp://10.0.0.11:80
    APPSERVER_HELLO_PORT_80_TCP_PROTO=tcp
    APPSERVER_HELLO_PORT_80_TCP_PORT=80
    APPSERVER_HELLO_PORT_80_TCP_ADDR=10.0.0.11

A Service named ``appserver`` or ``appserver-...`` thus makes ``APPSERVER_*``
variables that are no setting. ``is_service_link(name, value)`` is true only
when both the name and the value have exactly one of these shapes, so that a
mistyped setting (``APPSERVER_WOKRERS=4``) is still refused.
"""
from __future__ import annotations

import ipaddress
import re

_PROTOS = "(TCP|UDP|SCTP)"
_URL = re.compile(r"(tcp|udp|sctp)://(\[[0-9A-Fa-f:.]+\]|[0-9.]+):[0-9]{1,5}\Z")
_NUMBER = re.compile(r"[0-9]{1,5}\Z")

# (name pattern, what the value must be)
_SHAPES = (
    (re.compile(r"[A-Z0-9_]+_SERVICE_HOST\Z"), "address"),
    (re.compile(r"[A-Z0-9_]+_SERVICE_PORT(_[A-Z0-9_]+)?\Z"), "number"),
    (re.compile(r"[A-Z0-9_]+_PORT\Z"), "url"),
    (re.compile(r"[A-Z0-9_]+_PORT_[0-9]{1,5}_%s\Z" % _PROTOS), "url"),
    (re.compile(r"[A-Z0-9_]+_PORT_[0-9]{1,5}_%s_PROTO\Z" % _PROTOS), "proto"),
    (re.compile(r"[A-Z0-9_]+_PORT_[0-9]{1,5}_%s_PORT\Z" % _PROTOS), "number"),
    (re.compile(r"[A-Z0-9_]+_PORT_[0-9]{1,5}_%s_ADDR\Z" % _PROTOS), "address"),
)


def is_service_link(name: str, value: str) -> bool:
    """True when ``name=value`` is a variable a Kubernetes Service link made."""
    return any(pattern.match(name) and _VALUE_CHECKS[kind](value.strip())
               for pattern, kind in _SHAPES)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_VALUE_CHECKS = {
    "address": _is_address,
    "number": lambda value: bool(_NUMBER.match(value)),
    "url": lambda value: bool(_URL.match(value)),
    "proto": lambda value: value in ("tcp", "udp", "sctp"),
}
