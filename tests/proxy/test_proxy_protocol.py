"""proxy_protocol.parse: the examples of HAProxy's PROXY protocol spec, v1 and
v2, fed whole, byte by byte and in random splits, followed by client bytes."""

import random
import struct

import pytest

from appserver.http.proxy_protocol import (MAX_LENGTH, NEED_DATA, V2_SIGNATURE,
                                      ProxyProtocolError, parse)

FFFF6 = ":".join(["ffff"] * 8)
CLIENT_BYTES = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def v2(command=1, family=0x11, addresses=b"", tlvs=b"", version=2, length=None):
    block = addresses + tlvs
    size = len(block) if length is None else length
    return V2_SIGNATURE + struct.pack("!BBH", version << 4 | command, family, size) + block


def v4_block(src="192.0.2.1", dst="198.51.100.2", sport=56324, dport=443):
    import ipaddress
    return (ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
            + struct.pack("!HH", sport, dport))


def v6_block(src="2001:db8::1", dst="2001:db8::2", sport=1, dport=65535):
    import ipaddress
    return (ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
            + struct.pack("!HH", sport, dport))


VALID = [
    (b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
     1, ("255.255.255.255", 65535), ("255.255.255.255", 65535)),
    (("PROXY TCP6 %s %s 65535 65535\r\n" % (FFFF6, FFFF6)).encode(),
     1, ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535), (FFFF6, 65535)),
    (b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
     1, ("192.168.0.1", 56324), ("192.168.0.11", 443)),
    (b"PROXY TCP6 2001:db8::1 ::1 0 8080\r\n", 1, ("2001:db8::1", 0), ("::1", 8080)),
    (b"PROXY UNKNOWN\r\n", 1, None, None),
    (("PROXY UNKNOWN %s %s 65535 65535\r\n" % (FFFF6, FFFF6)).encode(), 1, None, None),
    (v2(addresses=v4_block()), 2, ("192.0.2.1", 56324), ("198.51.100.2", 443)),
    (v2(family=0x21, addresses=v6_block()), 2, ("2001:db8::1", 1), ("2001:db8::2", 65535)),
    # TLVs after the addresses (here PP2_TYPE_AUTHORITY and a NOOP) are skipped
    (v2(addresses=v4_block(), tlvs=b"\x02\x00\x0bexample.com\x04\x00\x02\x00\x00"),
     2, ("192.0.2.1", 56324), ("198.51.100.2", 443)),
    (v2(command=0, family=0x00), 2, None, None),                 # LOCAL: health check
    (v2(command=0, family=0x11, addresses=v4_block()), 2, None, None),   # LOCAL ignores
    (v2(family=0x00), 2, None, None),                            # PROXY, UNSPEC
    (v2(family=0x31, addresses=b"/src".ljust(108, b"\0") + b"/dst".ljust(108, b"\0")),
     2, None, None),                                             # AF_UNIX stream
]
IDS = ["v1-tcp4-max", "v1-tcp6-max", "v1-tcp4", "v1-tcp6", "v1-unknown", "v1-unknown-107",
       "v2-ipv4", "v2-ipv6", "v2-tlvs", "v2-local", "v2-local-addresses", "v2-unspec",
       "v2-unix"]


@pytest.mark.parametrize("raw, version, source, dest", VALID, ids=IDS)
def test_whole_header_followed_by_client_bytes(raw, version, source, dest):
    header, length = parse(raw + CLIENT_BYTES)
    assert length == len(raw)
    assert (header.version, header.source, header.dest) == (version, source, dest)


def test_longest_v1_line_is_107_bytes():
    assert len(VALID[5][0]) == 107


@pytest.mark.parametrize("raw, version, source, dest", VALID, ids=IDS)
def test_every_proper_prefix_needs_more_data(raw, version, source, dest):
    for end in range(len(raw)):
        assert parse(raw[:end]) is NEED_DATA, end


@pytest.mark.parametrize("seed", range(20))
def test_random_splits(seed):
    """What Connection.read_proxy_header does: buffer pieces until a header."""
    rng = random.Random(seed)
    raw, version, source, dest = rng.choice(VALID)
    stream = raw + CLIENT_BYTES
    buf, pos = b"", 0
    while True:
        step = rng.randint(1, 40)
        buf += stream[pos:pos + step]
        pos += step
        result = parse(buf)
        if result is not NEED_DATA:
            break
        assert pos < len(raw), "no header after the whole header arrived"
    header, length = result
    assert length == len(raw) and buf[length:] == stream[length:pos]
    assert (header.version, header.source, header.dest) == (version, source, dest)


INVALID = [
    b"GET / HTTP/1.1\r\n",                                   # plain HTTP
    b"\x16\x03\x01\x02\x00",                                 # a TLS ClientHello
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",                     # LF only
    b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",                     # a port missing
    b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",                  # two spaces
    b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 ::1 ::1 1 2\r\n",                           # family mismatch
    b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",                 # leading zero
    b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
    b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
    b"PROXY \xff\r\n",
    b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n",               # longer than 107
    v2(version=1, addresses=v4_block()),
    v2(command=2, addresses=v4_block()),
    v2(family=0x12, addresses=v4_block()),                   # UDP over IPv4
    v2(family=0x41, addresses=v4_block()),
    v2(family=0x11, addresses=v4_block()[:11]),              # block too short
    v2(family=0x21, addresses=v4_block()),
    V2_SIGNATURE[:11] + b"X" + b"\x21\x11\x00\x0c",
]


@pytest.mark.parametrize("raw", INVALID, ids=range(len(INVALID)))
def test_invalid_headers_are_refused(raw):
    with pytest.raises(ProxyProtocolError):
        parse(raw + CLIENT_BYTES)


EARLY = INVALID[:2] + INVALID[15:]


@pytest.mark.parametrize("raw", EARLY, ids=range(len(EARLY)))
def test_refused_as_soon_as_the_bytes_cannot_be_a_header(raw):
    """Without waiting for a CRLF or the whole v2 block: 16 bytes tell."""
    with pytest.raises(ProxyProtocolError):
        parse(raw[:16])


def test_v2_length_is_taken_from_the_header_up_to_the_maximum():
    big = v2(addresses=v4_block(), tlvs=b"\x04" + struct.pack("!H", 65520) + b"\0" * 65520)
    assert len(big) == MAX_LENGTH
    assert parse(big[:-1]) is NEED_DATA
    header, length = parse(big + b"tail")
    assert length == MAX_LENGTH and header.source == ("192.0.2.1", 56324)


def test_empty_buffer_needs_data():
    assert parse(b"") is NEED_DATA
