"""Unit tests for appserver.wsgi.response: start_response, write() and framing.

Covers PEP 3333 rules (status and header types, start_response twice,
exc_info before and after the head went out, write before start_response,
the head held back until the first non-empty piece), CR/LF and control
characters refused in status and header values, invalid Content-Length, and
RFC 9112 framing chosen per version/method/status: Content-Length kept or
dropped, chunked on HTTP/1.1, close-delimited on HTTP/1.0, no body for HEAD,
204, 205 (Content-Length: 0) and 304, 1xx refused, hop-by-hop headers from the
app dropped, Connection: close honoured, Content-Length enforced (excess cut,
short body ends keep-alive), Date/Server defaults, byte counters,
set_length_if_unknown and FileWrapper.
"""
import io
import sys

import pytest

from appserver.wsgi import response as response_mod
from appserver.wsgi.response import AppResponseError, FileWrapper, Response


class Wire:
    """Collects what the response hands to sendall()."""

    def __init__(self):
        self.sends = []

    def __call__(self, data):
        assert type(data) is bytes and data, "sendall() got %r" % (data,)
        self.sends.append(data)

    @property
    def data(self):
        return b"".join(self.sends)


def make(version="HTTP/1.1", method="GET", keep_alive=True):
    wire = Wire()
    return Response(wire, version, method, keep_alive), wire


def dechunk(data):
    """Strictly decode a chunked body; returns (body, bytes after it)."""
    body = b""
    while True:
        line, sep, data = data.partition(b"\r\n")
        assert sep, "chunk-size line not terminated"
        size = int(line, 16)
        assert line == b"%x" % size, "bad chunk-size line %r" % line
        if size == 0:
            assert data.startswith(b"\r\n"), "missing final CRLF"
            return body, data[2:]
        assert data[size:size + 2] == b"\r\n", "chunk data not followed by CRLF"
        body += data[:size]
        data = data[size + 2:]


def parse(raw, method="GET"):
    """(status line, [(name, value)], body, framing) of one response."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    names = [n.lower() for n, _ in headers]
    status = lines[0]
    code = int(status.split(" ")[1])
    if method == "HEAD" or code < 200 or code in (204, 304):
        assert rest == b"", "a body was sent where none is allowed"
        return status, headers, b"", "none"
    if "transfer-encoding" in names:
        assert "content-length" not in names
        body, after = dechunk(rest)
        assert after == b""
        return status, headers, body, "chunked"
    if "content-length" in names:
        length = int(dict((n.lower(), v) for n, v in headers)["content-length"])
        assert len(rest) == length, "body is %d bytes, Content-Length %d" % (len(rest), length)
        return status, headers, rest, "length"
    return status, headers, rest, "close"


def header(headers, name):
    values = [v for n, v in headers if n.lower() == name.lower()]
    assert len(values) <= 1, "%s sent %d times" % (name, len(values))
    return values[0] if values else None


def respond(resp, status, headers, pieces=(), finish=True):
    write = resp.start_response(status, headers)
    for piece in pieces:
        write(piece)
    if finish:
        resp.finish()


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(response_mod, "_warned", set())


# -- start_response: status ------------------------------------------------------

@pytest.mark.parametrize("status,line,code", [
    ("200 OK", "HTTP/1.1 200 OK", 200),
    ("404 Not Found", "HTTP/1.1 404 Not Found", 404),
    ("200", "HTTP/1.1 200 ", 200),
    ("599 Whatever\tit is", "HTTP/1.1 599 Whatever\tit is", 599),
    ("200 Caf\xe9", "HTTP/1.1 200 Caf\xe9", 200),
])
def test_valid_status_lines(status, line, code):
    resp, wire = make()
    respond(resp, status, [("Content-Length", "0")])
    assert resp.code == code
    assert parse(wire.data)[0] == line


@pytest.mark.parametrize("status", [
    "200 OK\r\nX-Injected: 1", "200 OK\n", "200 OK\r", "200 O\x00K", "OK", "20 OK",
    "2000 OK", "099 Low", "200OK", " 200 OK", "", "200 \u20ac",
])
def test_invalid_status_lines_are_refused(status):
    resp, wire = make()
    with pytest.raises(AppResponseError):
        resp.start_response(status, [])
    assert wire.sends == []


@pytest.mark.parametrize("status", [b"200 OK", 200, None])
def test_status_must_be_a_str(status):
    resp, _ = make()
    with pytest.raises(AppResponseError):
        resp.start_response(status, [])


# -- start_response: headers -----------------------------------------------------

@pytest.mark.parametrize("headers", [
    (("X-A", "1"),),                # a tuple, not a list
    [("X-A", "1", "extra")],
    [["X-A", "1"]],
    [("X-A",)],
    ["X-A: 1"],
    [(b"X-A", "1")],
    [("X-A", b"1")],
    [("X-A", 1)],
])
def test_headers_must_be_a_list_of_str_pairs(headers):
    resp, _ = make()
    with pytest.raises(AppResponseError):
        resp.start_response("200 OK", headers)


@pytest.mark.parametrize("name", ["X A", "X:A", "X\r\nY", "", "X-\xe9", "X\tA", "(x)"])
def test_invalid_header_names_are_refused(name):
    resp, _ = make()
    with pytest.raises(AppResponseError):
        resp.start_response("200 OK", [(name, "v")])


@pytest.mark.parametrize("value", [
    "a\r\nSet-Cookie: evil=1", "a\nb", "a\rb", "a\x00b", "a\x7fb", "a\x1bb", "\r\n",
])
def test_header_values_with_cr_lf_or_controls_are_refused(value):
    resp, wire = make()
    with pytest.raises(AppResponseError):
        resp.start_response("200 OK", [("X-A", value)])
    assert wire.sends == []


def test_header_values_with_tab_and_latin1_are_sent_as_latin1():
    resp, wire = make()
    respond(resp, "200 OK", [("X-A", "a\tb"), ("X-Name", "Jos\xe9"), ("X-Empty", "")],
            [b"x"])
    raw = wire.data
    assert b"\r\nX-A: a\tb\r\n" in raw
    assert b"\r\nX-Name: Jos\xe9\r\n" in raw
    assert b"\r\nX-Empty: \r\n" in raw


def test_app_headers_keep_their_order_and_repeats():
    resp, wire = make()
    respond(resp, "200 OK", [("Set-Cookie", "a=1"), ("X-B", "2"), ("Set-Cookie", "b=2")],
            [b"x"])
    _, headers, _, _ = parse(wire.data)
    names = [n for n, _ in headers]
    assert names[:3] == ["Set-Cookie", "X-B", "Set-Cookie"]
    assert [v for n, v in headers if n == "Set-Cookie"] == ["a=1", "b=2"]


def test_checked_header_cache_stays_small_with_a_new_cookie_per_response(monkeypatch):
    monkeypatch.setattr(response_mod, "_valid_lines", {})
    for n in range(3000):
        resp, wire = make()
        respond(resp, "200 OK", [("Content-Type", "text/html"),
                                 ("Set-Cookie", "csrftoken=%d" % n),
                                 ("X-Token", "t%d" % n)], [b"x"])
        assert b"\r\nSet-Cookie: csrftoken=%d\r\n" % n in wire.data
        assert b"\r\nX-Token: t%d\r\n" % n in wire.data
    cached = response_mod._valid_lines
    assert len(cached) <= response_mod._VALID_LINES_MAX
    assert ("Content-Type", "text/html") in cached      # the repeated line is reused
    assert not any(name == "Set-Cookie" for name, _ in cached)


@pytest.mark.parametrize("value", ["abc", "-1", "1.0", "+1", "0x10", "", "1 2",
                                   "\u0661"])
def test_invalid_content_length_is_refused(value):
    resp, _ = make()
    with pytest.raises(AppResponseError, match="Content-Length"):
        resp.start_response("200 OK", [("Content-Length", value)])


@pytest.mark.parametrize("second", ["1", "2", "x"])
def test_duplicate_content_length_is_refused_as_duplicated(second):
    for _ in range(2):      # the second time, the first line comes from the cache
        resp, _ = make()
        with pytest.raises(AppResponseError, match="Content-Length duplicated"):
            resp.start_response("200 OK", [("Content-Length", "1"),
                                           ("content-length", second)])


def test_content_length_with_spaces_is_accepted():
    resp, wire = make()
    respond(resp, "200 OK", [("Content-Length", " 3 ")], [b"abc"])
    _, headers, body, framing = parse(wire.data)
    assert framing == "length" and body == b"abc"
    assert header(headers, "Content-Length") == "3"


# -- PEP 3333 call rules -------------------------------------------------------------

def test_start_response_returns_write_and_sends_nothing():
    resp, wire = make()
    write = resp.start_response("200 OK", [])
    assert write == resp.write
    assert wire.sends == []
    assert resp.headers_sent is False


def test_start_response_twice_without_exc_info_is_an_error():
    resp, _ = make()
    resp.start_response("200 OK", [])
    with pytest.raises(AssertionError):
        resp.start_response("500 Error", [])


def test_exc_info_before_head_replaces_status_and_headers():
    resp, wire = make()
    resp.start_response("200 OK", [("X-First", "1"), ("Content-Length", "100")])
    try:
        raise ValueError("app failed")
    except ValueError:
        write = resp.start_response("500 Internal Server Error",
                                    [("Content-Type", "text/plain")], sys.exc_info())
    write(b"oops")
    resp.finish()
    status, headers, body, framing = parse(wire.data)
    assert status == "HTTP/1.1 500 Internal Server Error"
    assert header(headers, "X-First") is None
    assert header(headers, "Content-Type") == "text/plain"
    assert body == b"oops" and framing == "chunked"   # the old length is gone
    assert resp.keep_alive is True


def test_exc_info_after_head_reraises_the_original_exception():
    resp, wire = make()
    write = resp.start_response("200 OK", [])
    write(b"partial")
    sent = wire.data
    error = ValueError("late failure")
    try:
        raise error
    except ValueError:
        exc_info = sys.exc_info()
    with pytest.raises(ValueError) as raised:
        resp.start_response("500 Internal Server Error", [], exc_info)
    assert raised.value is error
    assert wire.data == sent, "something was sent after the re-raise"


def test_exc_info_as_first_call_is_allowed():
    resp, wire = make()
    try:
        raise KeyError("x")
    except KeyError:
        resp.start_response("500 Internal Server Error", [], sys.exc_info())
    resp.finish()
    assert parse(wire.data)[0] == "HTTP/1.1 500 Internal Server Error"


def test_write_before_start_response_is_an_error():
    resp, wire = make()
    with pytest.raises(AssertionError):
        resp.write(b"x")
    assert wire.sends == []


def test_head_and_first_piece_leave_in_one_send():
    resp, wire = make()
    write = resp.start_response("200 OK", [("Content-Length", "5")])
    write(b"hello")
    assert len(wire.sends) == 1
    assert wire.sends[0].endswith(b"\r\n\r\nhello")


def test_write_empty_first_sends_the_head():
    resp, wire = make()
    write = resp.start_response("200 OK", [])
    write(b"")
    assert len(wire.sends) == 1 and wire.sends[0].endswith(b"\r\n\r\n")
    write(b"")                               # nothing more, in particular no last-chunk
    assert len(wire.sends) == 1
    write(b"ab")
    resp.finish()
    assert parse(wire.data)[2] == b"ab"


def test_finish_without_body_sends_head_once():
    resp, wire = make()
    resp.start_response("200 OK", [("Content-Length", "0")])
    resp.finish()
    status, headers, body, framing = parse(wire.data)
    assert (framing, body) == ("length", b"")
    assert wire.data.count(b"HTTP/1.1") == 1


# -- framing -------------------------------------------------------------------------

def test_http11_without_length_is_chunked_and_keeps_alive():
    resp, wire = make()
    respond(resp, "200 OK", [], [b"ab", b"cde"])
    status, headers, body, framing = parse(wire.data)
    assert framing == "chunked" and body == b"abcde"
    assert header(headers, "Transfer-Encoding") == "chunked"
    assert header(headers, "Connection") is None
    assert resp.keep_alive is True and resp.chunked is True


def test_http11_with_length_is_not_chunked():
    resp, wire = make()
    respond(resp, "200 OK", [("Content-Length", "5")], [b"ab", b"cde"])
    status, headers, body, framing = parse(wire.data)
    assert framing == "length" and body == b"abcde"
    assert resp.keep_alive is True


def test_http10_without_length_is_close_delimited():
    resp, wire = make("HTTP/1.0", keep_alive=True)
    respond(resp, "200 OK", [], [b"ab", b"cd"])
    status, headers, body, framing = parse(wire.data)
    assert status.startswith("HTTP/1.1 200")
    assert framing == "close" and body == b"abcd"
    assert header(headers, "Connection") == "close"
    assert header(headers, "Transfer-Encoding") is None
    assert resp.keep_alive is False


def test_http10_keep_alive_with_length():
    resp, wire = make("HTTP/1.0", keep_alive=True)
    respond(resp, "200 OK", [("Content-Length", "2")], [b"ok"])
    _, headers, body, framing = parse(wire.data)
    assert framing == "length" and body == b"ok"
    assert header(headers, "Connection") == "keep-alive"
    assert resp.keep_alive is True


def test_http10_without_keep_alive_says_close():
    resp, wire = make("HTTP/1.0", keep_alive=False)
    respond(resp, "200 OK", [("Content-Length", "2")], [b"ok"])
    _, headers, _, _ = parse(wire.data)
    assert header(headers, "Connection") == "close"
    assert resp.keep_alive is False


def test_request_without_keep_alive_gets_connection_close():
    resp, wire = make("HTTP/1.1", keep_alive=False)
    respond(resp, "200 OK", [], [b"x"])
    _, headers, body, framing = parse(wire.data)
    assert header(headers, "Connection") == "close"
    assert framing == "chunked" and body == b"x"
    assert resp.keep_alive is False


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
@pytest.mark.parametrize("length", [None, "7"])
def test_head_sends_no_body_and_keeps_alive(version, length):
    resp, wire = make(version, "HEAD", keep_alive=True)
    headers = [("Content-Length", length)] if length else []
    respond(resp, "200 OK", headers, [b"ignored"])
    status, sent_headers, _, _ = parse(wire.data, "HEAD")
    assert header(sent_headers, "Content-Length") == length
    assert header(sent_headers, "Transfer-Encoding") is None
    assert header(sent_headers, "Connection") in (None, "keep-alive")
    assert resp.keep_alive is True
    assert resp.body_sent == 0


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols",
                                    "103 Early Hints", "199"])
def test_1xx_status_is_an_app_error(status):
    resp, wire = make()
    with pytest.raises(AppResponseError, match="1xx status is interim"):
        resp.start_response(status, [])
    assert resp.status is None and not wire.sends


def test_205_sends_no_body_and_content_length_0():
    for method in ("GET", "HEAD"):
        resp, wire = make(method=method)
        respond(resp, "205 Reset Content", [("Content-Length", "3")], [b"abc", b"de"])
        status, headers, body, framing = parse(wire.data, method)
        assert status.startswith("HTTP/1.1 205") and body == b""
        assert header(headers, "Content-Length") == "0"
        assert wire.data.endswith(b"\r\n\r\n") and resp.keep_alive is True


def test_204_drops_content_length_and_body():
    resp, wire = make()
    respond(resp, "204 No Content", [("Content-Length", "3")], [b"abc"])
    _, headers, _, framing = parse(wire.data)
    assert framing == "none"
    assert header(headers, "Content-Length") is None
    assert header(headers, "Transfer-Encoding") is None
    assert resp.keep_alive is True


def test_304_keeps_content_length_but_sends_no_body():
    resp, wire = make()
    respond(resp, "304 Not Modified", [("Content-Length", "42"), ("ETag", '"x"')], [b"x"])
    _, headers, _, framing = parse(wire.data)
    assert framing == "none"
    assert header(headers, "Content-Length") == "42"
    assert header(headers, "Transfer-Encoding") is None
    assert resp.keep_alive is True


def test_304_without_length_is_not_chunked():
    resp, wire = make()
    respond(resp, "304 Not Modified", [])
    assert header(parse(wire.data)[1], "Transfer-Encoding") is None
    assert wire.data.partition(b"\r\n\r\n")[2] == b""


@pytest.mark.parametrize("name,value", [
    ("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "gzip"),
    ("Connection", "keep-alive"), ("Connection", "Upgrade"), ("Keep-Alive", "timeout=5"),
    ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Trailer", "X-Sum"),
    ("Upgrade", "websocket"),
])
def test_hop_by_hop_headers_from_the_app_are_dropped(name, value):
    resp, wire = make()
    respond(resp, "200 OK", [(name, value), ("X-Kept", "1")], [b"body"])
    status, headers, body, framing = parse(wire.data)
    names = [n.lower() for n, _ in headers]
    assert name.lower() not in names or (name.lower() == "transfer-encoding"
                                         and header(headers, name) == "chunked")
    assert header(headers, "X-Kept") == "1"
    assert framing == "chunked" and body == b"body"   # the server framed it itself
    assert resp.keep_alive is True


@pytest.mark.parametrize("value", ["close", "Close", "keep-alive, close"])
def test_connection_close_from_the_app_is_honoured(value):
    resp, wire = make()
    respond(resp, "200 OK", [("Connection", value), ("Content-Length", "2")], [b"ok"])
    _, headers, body, _ = parse(wire.data)
    assert header(headers, "Connection") == "close"
    assert body == b"ok"
    assert resp.keep_alive is False


def test_excess_body_beyond_content_length_is_not_sent():
    resp, wire = make()
    respond(resp, "200 OK", [("Content-Length", "4")], [b"abc", b"def", b"ghi"])
    _, _, body, framing = parse(wire.data)        # parse() checks the exact length
    assert framing == "length" and body == b"abcd"
    assert resp.body_sent == 4
    assert resp.keep_alive is True


def test_short_body_ends_keep_alive(caplog):
    resp, wire = make()
    respond(resp, "200 OK", [("Content-Length", "10")], [b"abc"])
    assert wire.data.endswith(b"\r\n\r\nabc")
    assert resp.keep_alive is False
    assert "3 of its declared Content-Length of 10" in caplog.text


def test_short_body_on_head_keeps_alive():
    resp, _ = make(method="HEAD")
    respond(resp, "200 OK", [("Content-Length", "10")])
    assert resp.keep_alive is True


def test_empty_body_pieces_are_not_framed_as_chunks():
    resp, wire = make()
    respond(resp, "200 OK", [], [b"", b"a", b"", b"b"])
    status, headers, body, framing = parse(wire.data)
    assert body == b"ab"
    assert wire.data.partition(b"\r\n\r\n")[2] == b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n"


# -- Date, Server, counters ---------------------------------------------------------

def test_date_and_server_added_by_default():
    resp, wire = make()
    respond(resp, "200 OK", [], [b"x"])
    headers = parse(wire.data)[1]
    assert header(headers, "Date").endswith(" GMT")
    assert header(headers, "Server").startswith("appserver/")


def test_app_date_and_server_replace_the_defaults():
    resp, wire = make()
    respond(resp, "200 OK", [("date", "Thu, 01 Jan 1970 00:00:00 GMT"),
                             ("SERVER", "mine")], [b"x"])
    headers = parse(wire.data)[1]
    assert [v for n, v in headers if n.lower() == "date"] == [
        "Thu, 01 Jan 1970 00:00:00 GMT"]
    assert [v for n, v in headers if n.lower() == "server"] == ["mine"]


def test_counters_match_the_wire():
    resp, wire = make()
    respond(resp, "200 OK", [], [b"abc", b"de"])
    assert resp.sent == len(wire.data)
    assert resp.body_sent == 5
    assert resp.headers_sent is True


# -- set_length_if_unknown ---------------------------------------------------------

def test_set_length_if_unknown_declares_length():
    resp, wire = make()
    resp.start_response("200 OK", [])
    resp.set_length_if_unknown(3)
    resp.write(b"abc")
    resp.finish()
    assert parse(wire.data)[3] == "length"


@pytest.mark.parametrize("method,status,headers,write_first", [
    ("GET", "200 OK", [("Content-Length", "5")], False),   # the app's own length wins
    ("HEAD", "200 OK", [], False),
    ("GET", "204 No Content", [], False),
    ("GET", "304 Not Modified", [], False),
    ("GET", "205 Reset Content", [], False),
    ("GET", "200 OK", [], True),                            # head already sent
])
def test_set_length_if_unknown_is_ignored_when_it_must_be(method, status, headers,
                                                          write_first):
    resp, _ = make(method=method)
    resp.start_response(status, headers)
    if write_first:
        resp.write(b"")
    before = resp.length
    resp.set_length_if_unknown(3)
    assert resp.length == before


# -- FileWrapper ---------------------------------------------------------------------

def test_file_wrapper_iterates_in_blocks_and_forwards_close():
    f = io.BytesIO(b"x" * 10)
    wrapper = FileWrapper(f, blksize=4)
    assert wrapper.filelike is f
    assert [len(b) for b in wrapper] == [4, 4, 2]
    wrapper.close()
    assert f.closed


def test_file_wrapper_without_close():
    class Reader:
        def __init__(self):
            self.data = [b"ab", b""]

        def read(self, size):
            return self.data.pop(0)

    wrapper = FileWrapper(Reader())
    assert list(wrapper) == [b"ab"]
    assert not hasattr(wrapper, "close")


# -- regressions -----------------------------------------------------------------------

def test_non_latin1_header_value_is_refused_by_start_response():
    # regression: it used to fail later in writer.head, after headers_sent was set
    resp, wire = make()
    with pytest.raises(AppResponseError):
        resp.start_response("200 OK", [("X-Price", "5 \u20ac")])
    assert wire.sends == []


def test_write_of_str_fails_without_marking_the_head_sent():
    # regression: headers_sent used to be set before the piece was checked
    resp, wire = make()
    write = resp.start_response("200 OK", [])
    with pytest.raises((AppResponseError, TypeError)):
        write("text")
    assert wire.sends == []
    assert resp.headers_sent is False


class PartsWire(Wire):
    """Also takes lists of parts, as ``Connection.send_parts`` does."""

    def __init__(self):
        super().__init__()
        self.part_lists = []

    def parts(self, parts):
        assert all(type(p) is bytes for p in parts)
        self.part_lists.append(list(parts))
        self.sends.append(b"".join(parts))


@pytest.mark.parametrize("headers", [[], [("Content-Length", str(3 * 65536 + 5))]])
def test_large_pieces_go_unjoined_and_frame_like_small_ones(headers):
    pieces = [b"a" * 65536, b"b" * 65536, b"tiny", b"c" * 65536, b"d"]
    gathered = PartsWire()
    resp = Response(gathered, "HTTP/1.1", "GET", True, gathered.parts)
    respond(resp, "200 OK", list(headers), pieces)
    plain, wire = make()
    respond(plain, "200 OK", list(headers), pieces)
    assert gathered.data == wire.data           # the same bytes on the wire
    assert resp.sent == len(gathered.data) and resp.body_sent == plain.body_sent
    assert len(gathered.part_lists) == 3        # the three large pieces
    assert any(p is pieces[0] for p in gathered.part_lists[0])   # not copied
    _, _, body, _ = parse(gathered.data)
    assert body == b"".join(pieces)


@pytest.mark.parametrize("status,headers,words", [
    ("200 OK", [("Content-Length", "1"), ("Content-Length", "2")],
     "Content-Length duplicated (1, then '2')"),
    ("200 OK", [("Content-Length", "-1")], "not a non-negative decimal integer"),
    ("200 OK", [("X-A", "v\r\nSet-Cookie: x")], "holds '\\r'"),
    ("200 OK", [("X-A", 5)], "is not a str"),
    ("200 OK", [("Bad Name", "v")], "not a str token"),
    ("200OK", [], "not a 3-digit code"),
    ("103 Early Hints", [], "1xx status is interim"),
])
def test_each_app_side_error_names_what_was_wrong(status, headers, words):
    resp, _ = make()
    with pytest.raises(AppResponseError) as err:
        resp.start_response(status, headers)
    assert words in str(err.value)


# -- the same header list again (cached), and a one-piece body ------------------------

@pytest.mark.parametrize("headers, check", [
    ([("Content-Type", "text/plain"), ("Content-Length", "2")],
     lambda resp, headers: header(headers, "Content-Length") == "2"),
    ([("Connection", "close"), ("Content-Type", "text/plain")],
     lambda resp, headers: resp.keep_alive is False
     and header(headers, "Connection") == "close"),
    ([("Date", "Thu, 01 Jan 1970 00:00:00 GMT"), ("X-A", "1")],
     lambda resp, headers: header(headers, "Date") == "Thu, 01 Jan 1970 00:00:00 GMT"),
    ([("Server", "mine"), ("X-A", "1")],
     lambda resp, headers: header(headers, "Server") == "mine"),
])
def test_a_header_list_sent_again_gives_the_same_head(headers, check):
    heads = []
    for _ in range(3):      # the first response checks the list, the next reuse it
        resp, wire = make()
        respond(resp, "200 OK", list(headers), [b"ok"])
        status, sent, body, _ = parse(wire.data)
        assert body == b"ok" and check(resp, sent), sent
        heads.append([(n, v) for n, v in sent if n != "Date" or "1970" in v])
    assert heads[0] == heads[1] == heads[2]


def test_a_list_seen_before_with_a_second_content_length_is_still_refused():
    resp, _ = make()
    respond(resp, "200 OK", [("Content-Length", "2"), ("X-B", "1")], [b"ok"])
    resp, _ = make()
    with pytest.raises(AppResponseError, match="duplicated"):
        resp.start_response("200 OK", [("Content-Length", "2"), ("X-B", "1"),
                                       ("Content-Length", "2")])


@pytest.mark.parametrize("method, status, headers, data, wire_body, keep", [
    ("GET", "200 OK", [], b"abc", b"abc", True),                      # length declared
    ("GET", "200 OK", [("Content-Length", "3")], b"abc", b"abc", True),
    ("GET", "200 OK", [("Content-Length", "5")], b"abc", b"abc", False),   # short
    ("GET", "200 OK", [("Content-Length", "2")], b"abc", b"ab", True),     # cut
    ("GET", "200 OK", [], b"", b"", True),
    ("HEAD", "200 OK", [], b"abc", b"", True),
    ("GET", "204 No Content", [], b"", b"", True),
    ("GET", "304 Not Modified", [], b"", b"", True),
])
def test_write_whole_frames_like_write_and_finish(method, status, headers, data,
                                                  wire_body, keep):
    whole, wire = make(method=method)
    whole.start_response(status, list(headers))
    whole.write_whole(data)
    piece, piece_wire = make(method=method)
    piece.start_response(status, list(headers))
    if data or method != "HEAD":
        piece.set_length_if_unknown(len(data))
    piece.write(data)
    piece.finish()
    def undated(raw):
        return b"\r\n".join(line for line in raw.split(b"\r\n")
                             if not line.startswith(b"Date: "))
    assert undated(wire.data) == undated(piece_wire.data)
    assert wire.data.partition(b"\r\n\r\n")[2] == wire_body
    assert (whole.keep_alive, whole.sent, whole.body_sent) == (
        keep, len(wire.data), len(wire_body))
    assert (piece.keep_alive, piece.sent, piece.body_sent) == (
        whole.keep_alive, whole.sent, whole.body_sent)
