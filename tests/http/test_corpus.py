"""Replays every corpus case (tests/http/requests) many ways.

Each case must give the same outcome whole, byte by byte, in seeded random
splits and pipelined after other requests; a valid case truncated anywhere
gives IncompleteRequest, or CLOSED at a clean boundary. The unit tests at the
end pin down what a replay cannot see: errors raised before the head ends,
before EOF, and the parser's bookkeeping.
"""
import random
import re

import pytest

from appserver.http.errors import (
    BadRequest, HeaderFieldsTooLarge, IncompleteRequest, URITooLong,
)
from appserver.http.parser import (
    CLOSED, MAX_HEAD, NEED_DATA, Data, EndOfMessage, Limits, Request, RequestParser,
)
from http_corpus import describe, load_cases, matches, replay

pytestmark = pytest.mark.usefixtures("both_plain_splits")
CASES = load_cases()
PREFIXES = (
    b"GET /first HTTP/1.0\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
)
_BLANKS = re.compile(rb"(?:\r\n){0,4}")


def check(case, outcomes, how):
    assert matches(case.expected, outcomes), (case.name, how, describe(outcomes))


def test_corpus_is_large_and_balanced():
    valid = [c for c in CASES if c.valid]
    statuses = {c.expected[-1]["status"] for c in CASES if not c.valid}
    assert len(CASES) >= 150 and len(valid) >= 50
    assert {400, 405, 413, 414, 417, 431, 501, 505} <= statuses


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_whole(case):
    check(case, replay(case.data, (), case.limits), "whole")


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_byte_by_byte(case):
    check(case, replay(case.data, range(1, len(case.data)), case.limits), "byte by byte")


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_random_splits(case):
    rng = random.Random(case.name)
    positions = range(1, len(case.data))
    for _ in range(6):
        cuts = sorted(rng.sample(positions, min(len(positions), rng.randint(1, 12))))
        check(case, replay(case.data, cuts, case.limits), "cuts %s" % cuts)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_pipelined(case):
    rng = random.Random(case.name)
    for prefix in PREFIXES:
        first = replay(prefix, (), case.limits)
        if first[-1] != "CLOSED":
            continue  # the case's own limits refuse this prefix
        data = prefix + case.data
        for cuts in ((), sorted(rng.sample(range(1, len(data)), 5))):
            out = replay(data, cuts, case.limits)
            assert out[:1] == first[:1], (case.name, describe(out))
            check(case, out[1:], "after %r, cuts %s" % (prefix[:20], cuts))


def _boundaries(case):
    """Offsets where a request ends (and 0): EOF there is clean."""
    parser, ends = RequestParser(case.limits), [0]
    parser.feed(case.data)
    event = parser.next_event()
    while event is not NEED_DATA:
        if type(event) is EndOfMessage:
            ends.append(len(case.data) - parser.buffered)
        event = parser.next_event()
    return ends


@pytest.mark.parametrize("case", [c for c in CASES if c.valid], ids=repr)
def test_truncated(case):
    data, ends = case.data, _boundaries(case)
    positions = range(1, len(data))
    if len(data) > 300:
        positions = sorted(random.Random(case.name).sample(positions, 40))
    for k in positions:
        clean = any(b <= k and _BLANKS.fullmatch(data, b, k) for b in ends)
        last = replay(data[:k], (), case.limits)[-1]
        expected = "CLOSED" if clean else {"error": "IncompleteRequest", "status": 400}
        assert last == expected, (case.name, k, data[:k][-40:])


# ---- what a replay cannot see ----

def _parser(data, **limits):
    parser = RequestParser(Limits(**limits))
    parser.feed(data)
    return parser


def test_closed_at_clean_boundary():
    parser = _parser(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert type(parser.next_event()) is Request
    assert type(parser.next_event()) is EndOfMessage
    assert parser.next_event() is NEED_DATA
    parser.feed(b"")
    assert parser.next_event() is CLOSED
    assert parser.next_event() is CLOSED


def test_closed_on_empty_connection():
    parser = RequestParser()
    assert parser.next_event() is NEED_DATA
    parser.feed(b"")
    assert parser.next_event() is CLOSED


@pytest.mark.parametrize("data", [
    b"G", b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n\r",
    b"\r\n\r", b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2",
])
def test_eof_mid_head(data):
    parser = _parser(data)
    while parser.next_event() is not NEED_DATA:
        pass
    parser.feed(b"")
    with pytest.raises(IncompleteRequest):
        parser.next_event()
    with pytest.raises(IncompleteRequest):
        parser.next_event()


@pytest.mark.parametrize("body", [b"", b"abc", b"3\r\nabc\r\n", b"3\r\nabc\r\n0\r\n"])
@pytest.mark.parametrize("framing", [b"Content-Length: 20", b"Transfer-Encoding: chunked"])
def test_eof_mid_body(framing, body):
    parser = _parser(b"POST / HTTP/1.1\r\nHost: a\r\n" + framing + b"\r\n\r\n" + body)
    assert type(parser.next_event()) is Request
    while parser.next_event() is not NEED_DATA:
        pass
    parser.feed(b"")
    with pytest.raises(IncompleteRequest):
        parser.next_event()


def test_request_line_too_long_detected_before_crlf():
    parser = _parser(b"GET /" + b"a" * 30, request_line=20)
    with pytest.raises(URITooLong):
        parser.next_event()


def test_request_line_at_limit_waits():
    parser = _parser(b"GET /" + b"a" * 15 + b"\r", request_line=20)
    assert parser.next_event() is NEED_DATA


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\nHost: a\n\n", b"GET / HTTP/1.1\rHost: a\r", b"GET /\x00",
])
def test_bad_line_endings_refused_without_waiting(data):
    with pytest.raises(BadRequest):
        _parser(data).next_event()


@pytest.mark.parametrize("line,status,words", [
    (b"GET /\r\n", 400, "without an HTTP version"),
    (b"GET /index.html\r\nHost: a\r\n", 400, "without an HTTP version"),
    (b"GET / HTTP/2.0\r\n", 505, "not supported"),
    (b"GET / HTTP/1.1 x\r\n", 400, "malformed request line"),
    (b"GET http:///x HTTP/1.1\r\n", 400, "authority"),
])
def test_bad_request_line_refused_once_it_ends(line, status, words):
    """Answered at once, not after a header-timeout: whole or byte by byte."""
    for pieces in ([line], [line[i:i + 1] for i in range(len(line))]):
        parser = RequestParser()
        with pytest.raises(Exception) as err:
            for piece in pieces:
                parser.feed(piece)
                assert parser.next_event() is NEED_DATA
        assert err.value.status == status and words in err.value.detail


def test_refused_head_request_is_marked_head_only():
    for data, head_only in ((b"HEAD /\r\n", True), (b"HEAD / HTTP/1.1\r\n\r\n", True),
                            (b"GET / HTTP/1.1\r\n\r\n", False)):
        with pytest.raises(BadRequest) as err:
            _parser(data).next_event()
        assert err.value.head_only is head_only, data


def test_long_header_line_refused_before_it_ends():
    parser = _parser(b"GET / HTTP/1.1\r\nX: " + b"v" * 100, field_size=50)
    with pytest.raises(HeaderFieldsTooLarge):
        parser.next_event()


def test_too_many_fields_refused_before_head_ends():
    parser = _parser(b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 4, fields=3)
    with pytest.raises(HeaderFieldsTooLarge):
        parser.next_event()


def test_head_never_exceeds_hard_cap():
    parser = _parser(b"GET / HTTP/1.1\r\n", fields=1000, field_size=0)
    line = b"X: " + b"v" * 60000 + b"\r\n"
    with pytest.raises(HeaderFieldsTooLarge):
        while parser.next_event() is NEED_DATA:
            assert parser.buffered <= MAX_HEAD
            parser.feed(line)
    assert parser.buffered > MAX_HEAD


def test_data_never_crosses_the_boundary_and_buffered_counts():
    parser = _parser(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab")
    assert type(parser.next_event()) is Request
    assert parser.next_event() == Data(b"ab")
    assert parser.next_event() is NEED_DATA and parser.buffered == 0
    parser.feed(b"cdGET")
    assert parser.next_event() == Data(b"c")
    assert parser.buffered == 4
    assert parser.next_event() == EndOfMessage([])
    assert parser.next_event() is NEED_DATA and parser.buffered == 4


def test_peek_shows_the_start_of_a_refused_head():
    parser = _parser(b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(BadRequest):
        parser.next_event()
    assert parser.peek(6) == b"GET /\x01"
    assert parser.pending_head() is None


def test_reset_drops_state_and_error():
    parser = _parser(b"BAD\r\n\r\n")
    with pytest.raises(BadRequest):
        parser.next_event()
    parser.reset()
    assert parser.buffered == 0 and parser.next_event() is NEED_DATA
    parser.feed(b"GET / HTTP/1.0\r\n\r\n")
    assert type(parser.next_event()) is Request


def test_feed_after_eof_is_a_programming_error():
    parser = RequestParser()
    parser.feed(b"")
    with pytest.raises(RuntimeError):
        parser.feed(b"GET")


def test_error_carries_status_and_stays():
    parser = _parser(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")
    with pytest.raises(Exception) as first:
        parser.next_event()
    assert first.value.status == 505
    with pytest.raises(Exception) as second:
        parser.next_event()
    assert second.value is first.value


def test_skip_empty_body_ends_a_bodiless_request_only():
    parser = RequestParser()
    parser.feed(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
    assert parser.next_event().path == "/a"
    assert parser.skip_empty_body() is True
    assert parser.skip_empty_body() is False          # its end is taken already
    post = parser.next_event()
    assert post.path == "/b"
    assert parser.skip_empty_body() is False          # it has a body: events only
    assert parser.next_event().data == b"hi"
    assert type(parser.next_event()) is EndOfMessage
    assert parser.next_event().path == "/c"
