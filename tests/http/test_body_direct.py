"""The parsers' direct body path (``body_room``, ``took_body``) and the
piece assembled around the bytes that came with the head (``joined_room``,
``take_body_into``): bytes move once, in order, never past the body, and
the parser's state afterwards is the one events would have left."""
import pytest

from appserver.http.errors import IncompleteRequest
from appserver.http.parser import EndOfMessage, Limits, Request, RequestParser
from appserver.http.uwsgi import UwsgiParser, UwsgiRequest, pack

BODY = bytes(range(256)) * 40                    # 10240 bytes


def _http(held):
    parser = RequestParser(Limits())
    parser.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(BODY)
                + held)
    assert isinstance(parser.next_event(), Request)
    return parser


def _uwsgi(held):
    parser = UwsgiParser(Limits())
    parser.feed(pack([("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", str(len(BODY)))]) + held)
    assert isinstance(parser.next_event(), UwsgiRequest)
    return parser


@pytest.mark.parametrize("make", [_http, _uwsgi])
def test_held_bytes_move_once_then_the_rest_is_direct_and_the_end_is_an_event(make):
    parser = make(BODY[:100])
    assert parser.body_room() == 0                    # something is held
    assert parser.joined_room(4096) == 4096
    assert parser.joined_room(50) == 0                # all of that is held: events do it
    assert parser.joined_room(1 << 20) == len(BODY)   # never past the body
    piece = bytearray(4096)
    with memoryview(piece) as view:
        assert parser.take_body_into(view) == 100
    assert bytes(piece[:100]) == BODY[:100]
    assert parser.buffered == 0
    assert parser.body_room() == len(BODY) - 100      # the rest may go direct
    parser.took_body(len(BODY) - 100)
    assert isinstance(parser.next_event(), EndOfMessage)


def test_only_the_body_is_taken_when_the_next_request_is_held_too():
    nxt = b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n"
    parser = _http(BODY + nxt)
    assert parser.joined_room(1 << 20) == 0           # the whole body is held
    parser = _http(BODY[:10])
    parser.feed(BODY[10:] + nxt)
    assert parser.joined_room(1 << 20) == 0
    with memoryview(bytearray(len(BODY) + 100)) as view:
        assert parser.take_body_into(view) == len(BODY)   # not a byte of the next
    assert isinstance(parser.next_event(), EndOfMessage)
    assert parser.next_event().target == "/next"


def test_a_chunked_body_and_a_closed_connection_have_no_joined_room():
    parser = RequestParser(Limits())
    parser.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
    assert isinstance(parser.next_event(), Request)
    assert parser.joined_room(4096) == 0
    parser = _http(BODY[:100])
    parser.feed(b"")
    assert parser.joined_room(4096) == 0              # events report the close
    assert parser.next_event().data == BODY[:100]
    with pytest.raises(IncompleteRequest):
        parser.next_event()
