"""Unit tests for appserver.http.uwsgi: the uwsgi packet parser.

Every packet is replayed whole, byte by byte and in random splits (hypothesis),
and must give the same outcome: the request (its fields and environ), its
body, CLOSED; or the same error. Malformed packets raise ``PacketError``;
packets beyond the limits raise the HTTP status errors; the parser state can
be handed to another parser with ``pending_head``.
"""

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from appserver.http.errors import (
    HeaderFieldsTooLarge, HTTPError, IncompleteRequest, PayloadTooLarge, URITooLong,
)
from appserver.http.parser import Limits
from appserver.http.uwsgi import (
    CLOSED, NEED_DATA, Data, EndOfMessage, PacketError, UwsgiParser, UwsgiRequest, pack,
)

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# What nginx sends for "POST /caf%C3%A9/a%2Fb?x=1&y=%20 HTTP/1.1" with the
# distribution's uwsgi_params (PATH_INFO is $document_uri: percent-decoded).
NGINX_VARS = [
    ("QUERY_STRING", "x=1&y=%20"), ("REQUEST_METHOD", "POST"),
    ("CONTENT_TYPE", "text/plain"), ("CONTENT_LENGTH", "11"),
    ("REQUEST_URI", "/caf%C3%A9/a%2Fb?x=1&y=%20"),
    ("PATH_INFO", "/caf\xc3\xa9/a/b"), ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
    ("SERVER_PROTOCOL", "HTTP/1.1"), ("REQUEST_SCHEME", "http"),
    ("REMOTE_ADDR", "203.0.113.7"), ("REMOTE_PORT", "51234"),
    ("SERVER_PORT", "80"), ("SERVER_NAME", "example.com"),
    ("HTTP_HOST", "example.com"), ("HTTP_USER_AGENT", "curl/8.0"),
    ("HTTP_X_FORWARDED_FOR", "198.51.100.1"), ("HTTP_CONTENT_TYPE", "text/plain"),
    ("HTTP_CONTENT_LENGTH", "11"),
]
BODY = b"hello world"
PACKET = pack(NGINX_VARS) + BODY


def replay(data, cuts=(), limits=None, eof=True):
    """Feed ``data`` cut at ``cuts`` (then EOF); the outcomes, as comparable values."""
    parser, out = UwsgiParser(limits or Limits()), []
    pieces = [data[a:b] for a, b in zip((0,) + tuple(cuts), tuple(cuts) + (len(data),))]
    try:
        for piece in pieces + ([b""] if eof else []):
            parser.feed(piece)
            out += _drain(parser)
            if out and out[-1] is CLOSED:
                break
    except HTTPError as exc:
        out.append((type(exc).__name__, exc.detail))
    return _merge(out)


def _drain(parser):
    events = []
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if event is CLOSED:
            return events


def _merge(events):
    """Requests as (method, target, environ); adjacent Data pieces joined."""
    out = []
    for event in events:
        if isinstance(event, UwsgiRequest):
            out.append(("request", event.method, event.target, event.environ))
        elif type(event) is Data:
            if out and out[-1][0] == "data":
                out[-1] = ("data", out[-1][1] + event.data)
            else:
                out.append(("data", event.data))
        elif type(event) is EndOfMessage:
            out.append("end")
        elif event is CLOSED:
            out.append("closed")
        else:
            out.append(event)
    return out


def every_split(data, limits=None):
    """The outcome whole, checked equal byte by byte."""
    whole = replay(data, (), limits)
    assert replay(data, range(1, len(data)), limits) == whole
    return whole


def only_request(data, limits=None):
    outcome = every_split(data, limits)
    assert outcome[0][0] == "request", outcome
    return outcome[0][3]


def error_of(data, limits=None):
    outcome = every_split(data, limits)
    assert isinstance(outcome[-1], tuple) and outcome[-1][0] not in ("request", "data"), outcome
    return outcome[-1]


# -- valid packets --------------------------------------------------------------

def test_nginx_packet_whole_gives_request_body_then_closed():
    outcome = every_split(PACKET)
    assert [o if isinstance(o, str) else o[0] for o in outcome] == [
        "request", "data", "end", "closed"]
    _, method, target, env = outcome[0]
    assert (method, target) == ("POST", "/caf%C3%A9/a%2Fb?x=1&y=%20")
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a/b"        # kept, not decoded again
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["RAW_URI"] == env["REQUEST_URI"] == target
    assert (env["CONTENT_LENGTH"], env["CONTENT_TYPE"]) == ("11", "text/plain")
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["wsgi.url_scheme"] == "http" and env["DOCUMENT_ROOT"].startswith("/usr")
    assert outcome[1] == ("data", BODY)


def test_request_head_fields():
    parser = UwsgiParser(Limits())
    parser.feed(PACKET)
    req = parser.next_event()
    assert isinstance(req, UwsgiRequest)
    assert (req.version, req.keep_alive, req.expect_continue, req.chunked) == (
        "HTTP/1.0", False, False, False)
    assert req.content_length == 11 and req.host == "example.com"
    assert ("X-Forwarded-For", "198.51.100.1") in req.headers
    assert ("User-Agent", "curl/8.0") in req.headers


@SETTINGS
@given(st.lists(st.integers(1, len(PACKET) - 1), max_size=12).map(lambda c: sorted(set(c))))
def test_random_splits_give_the_same_outcome(cuts):
    assert replay(PACKET, cuts) == replay(PACKET)


def test_get_without_body_ends_at_once_and_drops_empty_content_vars():
    env = only_request(pack([("REQUEST_METHOD", "GET"), ("CONTENT_TYPE", ""),
                             ("CONTENT_LENGTH", ""), ("PATH_INFO", "/")]))
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env
    assert replay(pack([("REQUEST_METHOD", "GET")]))[1:] == ["end", "closed"]


def test_missing_vars_get_defaults():
    env = only_request(pack([("REQUEST_METHOD", "GET"), ("PATH_INFO", "/p"),
                             ("QUERY_STRING", "a=1")]))
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert env["REQUEST_URI"] == "/p?a=1"
    env = only_request(pack([("REQUEST_METHOD", "GET")]))
    assert (env["PATH_INFO"], env["QUERY_STRING"], env["REQUEST_URI"]) == ("", "", "")


def test_control_bytes_allowed_in_path_info_only():
    env = only_request(pack([("REQUEST_METHOD", "GET"), ("PATH_INFO", "/a\nb\x00")]))
    assert env["PATH_INFO"] == "/a\nb\x00"
    kind, detail = error_of(pack([("REQUEST_METHOD", "GET"), ("HTTP_X_A", "a\rb")]))
    assert kind == "PacketError" and "HTTP_X_A" in detail


def test_path_info_carries_every_byte_as_latin1():
    value = bytes(range(256))
    env = only_request(pack([(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", value)]))
    assert env["PATH_INFO"].encode("latin-1") == value


def test_repeated_headers_are_joined_cookie_with_semicolon():
    env = only_request(pack([("REQUEST_METHOD", "GET"), ("HTTP_ACCEPT", "a"),
                             ("HTTP_ACCEPT", "b"), ("HTTP_COOKIE", "x=1"),
                             ("HTTP_COOKIE", "y=2")]))
    assert (env["HTTP_ACCEPT"], env["HTTP_COOKIE"]) == ("a,b", "x=1; y=2")


@pytest.mark.parametrize("vars_, scheme", [
    ([("HTTPS", "on")], "https"), ([("HTTPS", "1")], "https"), ([("HTTPS", "off")], "http"),
    ([], "http"), ([("UWSGI_SCHEME", "https")], "https"),
    ([("HTTPS", "on"), ("UWSGI_SCHEME", "http")], "http"),
])
def test_scheme_from_https_or_uwsgi_scheme(vars_, scheme):
    env = only_request(pack([("REQUEST_METHOD", "GET")] + vars_))
    assert env["wsgi.url_scheme"] == scheme


def test_largest_packet_the_format_allows():
    value = "v" * (65535 - 4 - len("REQUEST_METHOD") - 3 - 4 - len("HTTP_X"))
    data = pack([("REQUEST_METHOD", "GET"), ("HTTP_X", value)])
    assert len(data) == 4 + 65535
    env = only_request(data, Limits(field_size=0))
    assert len(env["HTTP_X"]) == len(value)


def test_body_in_pieces_and_extra_bytes_never_read_as_a_request():
    body = bytes(range(256)) * 300
    data = pack([("REQUEST_METHOD", "PUT"), ("CONTENT_LENGTH", str(len(body)))]) + body
    outcome = replay(data + b"\x00garbage", range(3, len(data), 997))
    assert outcome[1:] == [("data", body), "end", "closed"]


def test_pending_head_hands_the_parser_state_over():
    first = UwsgiParser(Limits())
    first.feed(PACKET[:40])
    assert first.next_event() is NEED_DATA
    second = UwsgiParser(Limits())
    second.feed(first.pending_head() + PACKET[40:])
    assert isinstance(second.next_event(), UwsgiRequest)
    assert second.pending_head() is None            # in the body now


# -- malformed packets ----------------------------------------------------------

GET = [("REQUEST_METHOD", "GET")]
VARS_OK = pack(GET)[4:]


def raw(block, modifier1=0, modifier2=0, size=None):
    return bytes([modifier1]) + (len(block) if size is None else size).to_bytes(2, "little") \
        + bytes([modifier2]) + block


@pytest.mark.parametrize("data, words", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "modifier1 is 71, not 0 (an HTTP request?)"),
    (raw(VARS_OK, modifier1=5), "modifier1 is 5"),
    (raw(VARS_OK, modifier2=1), "modifier2 is 1"),
    (raw(VARS_OK + b"\x01"), "ends inside a key length"),
    (raw(VARS_OK + b"\x05\x00ABC"), "key of 5 bytes runs past"),
    (raw(VARS_OK + b"\x01\x00A\x09\x00abc"), "value of 9 bytes runs past"),
    (raw(VARS_OK + b"\x01\x00A"), "ends inside a value length"),
    (raw(VARS_OK + b"\x00\x00\x00\x00"), "invalid var name b''"),
    (pack(GET + [("wsgi.input", "x")]), "invalid var name b'wsgi.input'"),
    (pack(GET + [("X Y", "1")]), "invalid var name"),
    (pack(GET + [("SERVER_NAME", "a\x00b")]), "control byte in the value of SERVER_NAME"),
    (pack([("PATH_INFO", "/")]), "REQUEST_METHOD missing"),
    (pack([("REQUEST_METHOD", "G T")]), "REQUEST_METHOD missing or invalid"),
    (pack(GET + [("CONTENT_LENGTH", "-1")]), "invalid CONTENT_LENGTH"),
    (pack(GET + [("CONTENT_LENGTH", "0x10")]), "invalid CONTENT_LENGTH"),
    (pack(GET + [("CONTENT_LENGTH", "1" * 19)]), "invalid CONTENT_LENGTH"),
    (pack(GET + [("CONTENT_LENGTH", "1"), ("CONTENT_LENGTH", "1")]), "CONTENT_LENGTH sent twice"),
    (pack(GET + GET), "REQUEST_METHOD sent twice"),
    (pack(GET + [("HTTP_HOST", "a"), ("HTTP_HOST", "b")]), "HTTP_HOST sent twice"),
    (pack(GET + [("UWSGI_SCHEME", "ftp")]), "invalid UWSGI_SCHEME"),
    (pack(GET + [("SERVER_PROTOCOL", "SPDY/3")]), "invalid SERVER_PROTOCOL"),
    (raw(b"", size=10)[:3], "closed inside the packet"),
    (pack(GET)[:-1], "closed inside the packet"),
])
def test_malformed_packets_raise_packet_error_however_split(data, words):
    kind, detail = error_of(data)
    assert kind == "PacketError" and detail.startswith("bad uwsgi packet: ")
    assert words in detail


def test_modifier_errors_come_before_the_rest_of_the_packet_arrives():
    for data in (b"\x05", raw(b"", modifier2=3, size=100)):
        parser = UwsgiParser(Limits())
        parser.feed(data)
        with pytest.raises(PacketError):
            parser.next_event()


def test_the_error_sticks():
    parser = UwsgiParser(Limits())
    parser.feed(b"\x07")
    with pytest.raises(PacketError) as first:
        parser.next_event()
    with pytest.raises(PacketError) as again:
        parser.next_event()
    assert again.value is first.value
    assert parser.pending_head() is None


def test_eof_before_any_byte_is_closed_and_inside_a_body_incomplete():
    assert replay(b"") == ["closed"]
    data = pack(GET + [("CONTENT_LENGTH", "10")]) + b"12345"
    assert replay(data)[-1] == ("IncompleteRequest", "connection closed in the middle of a body")
    assert issubclass(IncompleteRequest, HTTPError)


# -- limits ---------------------------------------------------------------------

def test_request_uri_over_limit_request_line_is_414():
    ok = pack(GET + [("REQUEST_URI", "/" + "a" * 99)])
    assert only_request(ok, Limits(request_line=100))
    assert error_of(pack(GET + [("REQUEST_URI", "/" + "a" * 100)]),
                    Limits(request_line=100))[0] == URITooLong.__name__


def test_header_vars_over_limit_request_fields_or_field_size_are_431():
    three = pack(GET + [("HTTP_A", "1"), ("HTTP_B", "2"), ("HTTP_C", "3")])
    assert only_request(three, Limits(fields=3))
    assert error_of(three, Limits(fields=2)) == (
        HeaderFieldsTooLarge.__name__, "more than 2 HTTP_* vars")
    line = pack(GET + [("HTTP_ABC", "v" * 15)])        # "Abc: vvv..." is 20 bytes
    assert only_request(line, Limits(field_size=20))
    assert error_of(line, Limits(field_size=19))[0] == HeaderFieldsTooLarge.__name__


def test_vars_block_larger_than_a_head_is_refused_from_its_header():
    limits = Limits(request_line=10, fields=2, field_size=10)   # a head of <= 38 bytes
    parser = UwsgiParser(limits)
    parser.feed(raw(b"", size=39))
    with pytest.raises(HeaderFieldsTooLarge):
        parser.next_event()


def test_body_over_limit_request_body_is_413():
    data = pack(GET + [("CONTENT_LENGTH", "17")])
    assert error_of(data, Limits(body=16))[0] == PayloadTooLarge.__name__
    assert only_request(pack(GET + [("CONTENT_LENGTH", "16")]), Limits(body=16))
