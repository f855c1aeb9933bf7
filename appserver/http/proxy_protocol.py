"""PROXY protocol v1 and v2 (HAProxy's spec), sans-I/O: bytes in, header out.

``parse(buf)`` looks at the bytes received so far at the start of a
connection and returns ``NEED_DATA`` (every byte in ``buf`` belongs to a header
that is not complete yet), or ``(header, length)``: the ``ProxyHeader`` and how
many bytes of ``buf`` it took (bytes after it are the client's). It raises
``ProxyProtocolError`` as soon as the bytes cannot be a valid header. It never
touches a socket; ``Connection.read_proxy_header`` peeks and consumes exactly
the header, so what follows (HTTP or a TLS handshake) stays in the kernel.

``header.source``/``header.dest`` are ``(ip, port)`` or None when the sender
gives no usable address: v1 ``UNKNOWN``, v2 ``LOCAL`` (a health check by the
proxy itself), v2 ``UNSPEC`` or ``AF_UNIX``; the real peer is kept then. v2
TLVs are skipped. Datagram transports are refused (this is a stream server).
"""
from __future__ import annotations

import ipaddress
import struct
from typing import Optional, Tuple, Union

V1_PREFIX = b"PROXY "
V1_MAX = 107                    # the whole v1 line, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16
MAX_LENGTH = V2_FIXED + 0xFFFF  # the longest header of either version

_V2_ADDRESSES = {0x11: (4, 12), 0x21: (16, 36)}     # family|stream: ip size, block
_UNIX_STREAM, _UNSPEC = 0x31, 0x00


class ProxyProtocolError(Exception):
    """The connection did not start with a valid PROXY protocol header."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()
# An (ip, port) a PROXY header names.
Address = Tuple[str, int]


class ProxyHeader:
    """What a PROXY header said; ``source``/``dest`` are ``(ip, port)`` or None."""

    __slots__ = ("version", "source", "dest")

    def __init__(self, version: int, source: Optional[Address] = None,
                 dest: Optional[Address] = None) -> None:
        self.version = version
        self.source = source
        self.dest = dest

    def __repr__(self) -> str:
        return "ProxyHeader(v%d, %r -> %r)" % (self.version, self.source, self.dest)


# What ``parse`` returns: more bytes needed, or (header, its length).
Parsed = Union[_NeedData, Tuple[ProxyHeader, int]]


def parse(buf: Union[bytes, bytearray, memoryview]) -> Parsed:
    """``NEED_DATA`` or ``(ProxyHeader, length)``; raises ``ProxyProtocolError``."""
    buf = bytes(buf)
    if buf[:1] == b"P":
        return _parse_v1(buf)
    if buf[:1] == b"\r":
        return _parse_v2(buf)
    if not buf:
        return NEED_DATA
    raise ProxyProtocolError("no PROXY protocol header")


def _parse_v1(buf: bytes) -> Parsed:
    if not buf.startswith(V1_PREFIX[:len(buf)]):
        raise ProxyProtocolError("no PROXY protocol header")
    end = buf.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(buf) >= V1_MAX or b"\n" in buf:
            raise ProxyProtocolError("PROXY v1 line longer than 107 bytes or not "
                                     "ended by CRLF")
        return NEED_DATA
    return _v1_line(buf[:end]), end + 2


def _v1_line(line: bytes) -> ProxyHeader:
    try:
        parts = line.decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise ProxyProtocolError("PROXY v1 line is not ASCII") from None
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(1)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError("malformed PROXY v1 line")
    version = 4 if parts[1] == "TCP4" else 6
    source = (_v1_ip(parts[2], version), _v1_port(parts[4]))
    dest = (_v1_ip(parts[3], version), _v1_port(parts[5]))
    return ProxyHeader(1, source, dest)


def _v1_ip(text: str, version: int) -> str:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        ip = None
    if ip is None or ip.version != version:
        raise ProxyProtocolError("bad IPv%d address in PROXY v1 line" % version)
    return str(ip)


def _v1_port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or (text[0] == "0" and text != "0") \
            or int(text) > 65535:
        raise ProxyProtocolError("bad port in PROXY v1 line")
    return int(text)


def _parse_v2(buf: bytes) -> Parsed:
    if not buf.startswith(V2_SIGNATURE[:len(buf)]):
        raise ProxyProtocolError("no PROXY protocol header")
    if len(buf) < V2_FIXED:
        return NEED_DATA
    ver_cmd, family, length = struct.unpack_from("!BBH", buf, 12)
    if ver_cmd >> 4 != 2 or ver_cmd & 0x0F > 1:
        raise ProxyProtocolError("unsupported PROXY v2 version or command %#04x"
                                 % ver_cmd)
    _v2_check_family(ver_cmd & 0x0F, family, length)
    if len(buf) < V2_FIXED + length:
        return NEED_DATA
    if ver_cmd & 0x0F == 0:             # LOCAL: the proxy speaking for itself
        return ProxyHeader(2), V2_FIXED + length
    return _v2_addresses(family, buf[V2_FIXED:V2_FIXED + length]), V2_FIXED + length


def _v2_check_family(command: int, family: int, length: int) -> None:
    """Refuse what can never be valid as soon as the fixed part is here."""
    if command == 0:
        return
    if family in _V2_ADDRESSES:
        if length < _V2_ADDRESSES[family][1]:
            raise ProxyProtocolError("PROXY v2 address block too short")
    elif family == _UNIX_STREAM:
        if length < 216:
            raise ProxyProtocolError("PROXY v2 address block too short")
    elif family != _UNSPEC:
        raise ProxyProtocolError("unsupported PROXY v2 family/transport %#04x" % family)


def _v2_addresses(family: int, block: bytes) -> ProxyHeader:
    if family not in _V2_ADDRESSES:
        return ProxyHeader(2)           # UNSPEC or AF_UNIX: keep the real peer
    size = _V2_ADDRESSES[family][0]
    src = ipaddress.ip_address(block[:size])
    dst = ipaddress.ip_address(block[size:2 * size])
    sport, dport = struct.unpack_from("!HH", block, 2 * size)
    return ProxyHeader(2, (str(src), sport), (str(dst), dport))
