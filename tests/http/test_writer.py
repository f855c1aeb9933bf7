"""Unit tests for appserver.http.writer: response heads, chunks, error responses.

Covers the exact bytes of a head (status line, header lines, Date and
Server added unless suppressed, blank line), latin-1 encoding, the Date
value (IMF-fixdate, cached per second), chunk framing, the constants, and
``error_response`` (status, Content-Length matching the body, Connection:
close, detail handling).
"""
import re
import time
from email.utils import formatdate, parsedate_to_datetime
from types import SimpleNamespace

import pytest

from appserver import SERVER_SOFTWARE
from appserver.http import writer

IMF_FIXDATE = re.compile(
    r"Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep"
    r"|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT\r\n\Z")


def split_head(raw):
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, "head not terminated by an empty line"
    lines = head.split(b"\r\n")
    return lines[0], lines[1:], rest


def test_head_exact_bytes_without_date_and_server():
    raw = writer.head(b"200 OK", b"Content-Type: text/plain\r\nX-A: 1\r\n",
                      add_date=False, add_server=False)
    assert raw == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\n"


def test_head_adds_date_then_server_by_default():
    raw = writer.head(b"404 Not Found", b"X-A: 1\r\n")
    status, lines, rest = split_head(raw)
    assert status == b"HTTP/1.1 404 Not Found"     # always our own version
    assert rest == b""
    assert lines[0] == b"X-A: 1"
    assert lines[1].startswith(b"Date: ")
    assert lines[2] == b"Server: " + SERVER_SOFTWARE.encode()
    assert len(lines) == 3


def test_head_with_no_headers_at_all():
    assert writer.head(b"204 No Content", b"", False, False) \
        == b"HTTP/1.1 204 No Content\r\n\r\n"


@pytest.mark.parametrize("date,server", [(True, False), (False, True)])
def test_head_adds_date_or_server_alone(date, server):
    _, lines, _ = split_head(writer.head(b"200 OK", b"X-A: 1\r\n", date, server))
    assert lines[0] == b"X-A: 1" and len(lines) == 2
    assert lines[1].startswith(b"Date: ") is date
    assert (lines[1] == b"Server: " + SERVER_SOFTWARE.encode()) is server


def test_date_line_is_imf_fixdate_for_now():
    line = writer.date_line().decode("latin-1")
    assert IMF_FIXDATE.match(line), line
    when = parsedate_to_datetime(line[len("Date: "):-2]).timestamp()
    assert abs(when - time.time()) < 5


@pytest.mark.parametrize("seconds", [0, 784111777, 951782400, 1_800_000_000,
                                     4_102_444_799, 253_402_300_799])
def test_http_date_matches_the_standard_library(seconds):
    # RFC 9110 5.6.7's example is 784111777; 951782400 is 29 Feb 2000, the
    # last two are the ends of 2099 and 9999.
    assert writer.http_date(seconds) == formatdate(seconds, usegmt=True)


def test_date_line_is_cached_within_a_second(monkeypatch):
    calls = []
    real = writer.http_date

    def counting(*args, **kw):
        calls.append(args)
        return real(*args, **kw)

    clock = [1_800_000_000.2]
    monkeypatch.setattr(writer, "http_date", counting)
    monkeypatch.setattr(writer, "time", SimpleNamespace(time=lambda: clock[0],
                                                        gmtime=time.gmtime))
    monkeypatch.setattr(writer, "_clock", [0.0, 0.0, b"", b""])
    first = writer.date_line()
    clock[0] = 1_800_000_000.9
    assert writer.date_line() == first
    assert len(calls) == 1
    clock[0] = 1_800_000_001.0
    second = writer.date_line()
    assert len(calls) == 2
    assert first != second
    assert parsedate_to_datetime(second[6:-2].decode()).timestamp() == 1_800_000_001
    assert parsedate_to_datetime(first[6:-2].decode()).timestamp() == 1_800_000_000
    assert writer.head(b"200 OK", b"").endswith(second + b"Server: %s\r\n\r\n"
                                                % SERVER_SOFTWARE.encode())
    clock[0] = 1_800_000_000.5                  # the system clock was set back
    assert writer.date_line() == first
    assert len(calls) == 3


@pytest.mark.parametrize("data,framed", [
    (b"hello", b"5\r\nhello\r\n"),
    (b"x" * 255, b"ff\r\n" + b"x" * 255 + b"\r\n"),
    (b"x" * 4096, b"1000\r\n" + b"x" * 4096 + b"\r\n"),
    (b"\r\n0\r\n\r\n", b"7\r\n\r\n0\r\n\r\n\r\n"),   # payload is opaque
])
def test_chunk_framing(data, framed):
    assert writer.chunk(data) == framed


def test_chunk_accepts_bytes_like():
    assert writer.chunk(bytearray(b"ab")) == b"2\r\nab\r\n"
    assert writer.chunk(memoryview(b"abc")) == b"3\r\nabc\r\n"


def test_constants():
    assert writer.LAST_CHUNK == b"0\r\n\r\n"
    assert writer.CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"


def _parse_error(raw):
    status, lines, body = split_head(raw)
    headers = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(": ")
        assert name.lower() not in headers, "duplicate header %s" % name
        headers[name.lower()] = value
    return status, headers, body


def test_error_response_without_detail():
    status, headers, body = _parse_error(writer.error_response(400, "Bad Request"))
    assert status == b"HTTP/1.1 400 Bad Request"
    assert body == b"400 Bad Request\n"
    assert headers["content-length"] == str(len(body))
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["connection"] == "close"
    assert "date" in headers and headers["server"] == SERVER_SOFTWARE
    assert "transfer-encoding" not in headers


def test_error_response_with_detail():
    status, headers, body = _parse_error(
        writer.error_response(431, "Request Header Fields Too Large",
                              "more than 100 header fields"))
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert body == b"431 Request Header Fields Too Large: more than 100 header fields\n"
    assert int(headers["content-length"]) == len(body)


def test_error_response_detail_equal_to_reason_is_not_repeated():
    _, _, body = _parse_error(writer.error_response(408, "Request Timeout",
                                                    "Request Timeout"))
    assert body == b"408 Request Timeout\n"


def test_error_response_non_latin1_detail_keeps_length_right():
    _, headers, body = _parse_error(writer.error_response(400, "Bad Request", "bad \u2603"))
    assert body == b"400 Bad Request: bad ?\n"
    assert int(headers["content-length"]) == len(body)


@pytest.mark.parametrize("add_date, add_server", [(True, True), (True, False),
                                                  (False, True), (False, False)])
@pytest.mark.parametrize("lines, body", [([], b""), ([b"A: 1\r\n", b"B: 2\r\n"], b"body")])
def test_head_joined_is_the_head_of_those_lines_with_the_body_after_it(
        add_date, add_server, lines, body):
    for _ in range(3):      # the Date line could change between the two calls
        second = int(time.time())
        joined = writer.head_joined(b"200 OK", lines, body, add_date, add_server)
        date = writer.date_line() if add_date else b""
        if int(time.time()) == second:
            break
    server = b"Server: %s\r\n" % SERVER_SOFTWARE.encode() if add_server else b""
    assert joined == (b"HTTP/1.1 200 OK\r\n" + b"".join(lines) + date + server + b"\r\n"
                      + body)
