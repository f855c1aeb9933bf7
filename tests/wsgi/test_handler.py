"""Unit tests for appserver.wsgi.handler: one request through a WSGI app.

Requests are parsed by the real ``RequestParser``; the connection is a fake
providing ``skip_empty_body`` and ``read_body`` (fed by that parser),
``sendall``, ``sendfile``, ``send_continue``, ``discard_body`` and ``peer``. Covers
the response framing per body shape (single piece, iterable, write(),
HTTP/1.0, HEAD, 204), ``close()`` called exactly once on every path, app
errors before and after the head (500 or a closed connection, logged), invalid
status/headers/pieces (500), ``exc_info``, the body (read, 100 Continue,
unread body skipped or the connection closed, a bad body answered with its
4xx), ``wsgi.file_wrapper`` with sendfile, the 504 on ``WorkerTimeout``, and
the access-log call.
"""
import io
import logging
import sys

import pytest

from appserver.net.connection import ClientError, ClientTimeout, Connection
from appserver.http import writer
from appserver.http.parser import NEED_DATA, Data, EndOfMessage, RequestParser
from appserver.net.sockets import Listener
from appserver.wsgi import response as response_mod
from appserver.wsgi.environ import base_environ
from appserver.wsgi.handler import UNREAD_BODY_LIMIT, FileSend, WorkerTimeout, handle

BASE = base_environ(Listener(None, "tcp", ("127.0.0.1", 8000)), True)


class FakeConn:
    """The connection surface handle() uses, over a real parser and a byte sink."""

    def __init__(self, raw, peer=("203.0.113.5", 40000), fail_sendall_after=None,
                 discard_result=None):
        self.parser = RequestParser()
        self.parser.feed(raw)
        self.request = self.parser.next_event()
        self.peer = peer
        self.out = bytearray()
        self.sendall_calls = 0
        self.fail_sendall_after = fail_sendall_after
        self.continues = 0
        self.sendfiles = []
        self.discards = []
        self.discard_result = discard_result
        self.aborted = False
        self.abort_calls = []

    def abort(self, on=True):
        self.aborted = on
        self.abort_calls.append(on)

    def skip_empty_body(self):
        return self.parser.skip_empty_body()

    def read_body(self, size=65536):
        event = self.parser.next_event()
        if type(event) is Data:
            return event.data
        if type(event) is EndOfMessage:
            return b""
        assert event is NEED_DATA
        raise ClientTimeout("client sent no body bytes")

    def sendall(self, data):
        if self.fail_sendall_after is not None and \
                self.sendall_calls >= self.fail_sendall_after:
            # what Connection.sendall raises when the peer is gone
            raise ClientError("sending the response: [Errno 32] Broken pipe")
        self.sendall_calls += 1
        self.out += data

    send_error = Connection.send_error  # the real one, over this sendall

    def send_parts(self, parts):        # as Connection.send_parts: one send, unjoined
        self.sendall(b"".join(parts))

    def sendfile(self, fileobj, offset, count):
        self.sendfiles.append((fileobj, offset, count))
        fileobj.seek(offset)
        data = fileobj.read(count)
        self.out += data
        return len(data)

    def send_continue(self):
        self.continues += 1
        self.sendall(writer.CONTINUE)

    def discard_body(self, limit):
        self.discards.append(limit)
        if self.discard_result is not None:
            return self.discard_result
        while self.read_body():
            pass
        return True


class AccessLog:
    """Stands for the worker's RequestObserver; records what the log would."""

    def __init__(self):
        self.calls = []

    def started(self, request, environ, response):
        pass

    def finished(self, conn, request, environ, response, duration):
        self.calls.append((environ, response.code or 500, response.sent, duration))


def serve(raw, app, **kw):
    conn = FakeConn(raw, **kw)
    access = AccessLog()
    keep = handle(conn, conn.request, app, BASE, access)
    return keep, conn, access


def req(method="GET", target="/", version="HTTP/1.1", headers=(), body=b""):
    lines = ["%s %s %s" % (method, target, version)]
    if version == "HTTP/1.1":
        lines.append("Host: test")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- reading the wire back -----------------------------------------------------

def dechunk(data):
    body = b""
    while True:
        line, sep, data = data.partition(b"\r\n")
        assert sep, "chunk-size line not terminated"
        size = int(line, 16)
        assert line == b"%x" % size, "bad chunk-size line %r" % line
        if size == 0:
            assert data.startswith(b"\r\n")
            return body, data[2:]
        assert data[size:size + 2] == b"\r\n", "chunk data not followed by CRLF"
        body += data[:size]
        data = data[size + 2:]


class Parsed:
    def __init__(self, raw, method="GET", complete=True):
        head, sep, rest = bytes(raw).partition(b"\r\n\r\n")
        assert sep, "no complete head in %r" % raw
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.code = int(lines[0].split(" ")[1])
        self.headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
        self.rest = rest
        if not complete:                # a cut response: the head only
            return
        if method == "HEAD" or self.code < 200 or self.code in (204, 304):
            self.framing, self.body, self.after = "none", b"", rest
        elif self.get("Transfer-Encoding") == "chunked":
            assert self.get("Content-Length") is None
            self.framing = "chunked"
            self.body, self.after = dechunk(rest)
        elif self.get("Content-Length") is not None:
            n = int(self.get("Content-Length"))
            self.framing, self.body, self.after = "length", rest[:n], rest[n:]
        else:
            self.framing, self.body, self.after = "close", rest, b""

    def get(self, name):
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(values) <= 1, "%s sent %d times" % (name, len(values))
        return values[0] if values else None


def parse(raw, method="GET"):
    parsed = Parsed(raw, method)
    assert parsed.after == b"", "bytes after the response: %r" % parsed.after
    return parsed


# -- apps ------------------------------------------------------------------------

class Closing:
    """An iterable with close(): records every close() call."""

    def __init__(self, pieces, fail_at=None):
        self.pieces = pieces
        self.fail_at = fail_at
        self.closed = 0

    def __iter__(self):
        for i, piece in enumerate(self.pieces):
            if i == self.fail_at:
                raise RuntimeError("app failed while iterating")
            yield piece

    def close(self):
        self.closed += 1


def simple(status="200 OK", headers=(), body=(b"hello",)):
    def app(environ, start_response):
        start_response(status, list(headers))
        return list(body)
    return app


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(response_mod, "_warned", set())


# -- framing by body shape ---------------------------------------------------------

def test_single_piece_list_gets_a_content_length():
    keep, conn, access = serve(req(), simple(body=[b"hello"]))
    r = parse(conn.out)
    assert r.status_line == "HTTP/1.1 200 OK"
    assert (r.framing, r.body) == ("length", b"hello")
    assert keep is True


def test_single_piece_tuple_gets_a_content_length():
    def app(environ, start_response):
        start_response("200 OK", [])
        return (b"tuple",)
    keep, conn, _ = serve(req(), app)
    r = parse(conn.out)
    assert (r.framing, r.body, keep) == ("length", b"tuple", True)


def test_several_pieces_on_http11_are_chunked():
    keep, conn, _ = serve(req(), simple(body=[b"a", b"", b"bc"]))
    r = parse(conn.out)
    assert (r.framing, r.body, keep) == ("chunked", b"abc", True)


def test_generator_on_http10_is_close_delimited():
    def app(environ, start_response):
        start_response("200 OK", [])
        yield b"one"
        yield b"two"
    keep, conn, _ = serve(req(version="HTTP/1.0", headers=["Connection: keep-alive"]), app)
    r = parse(conn.out)
    assert (r.framing, r.body) == ("close", b"onetwo")
    assert r.get("Connection") == "close"
    assert keep is False


def test_http10_keep_alive_with_single_piece():
    keep, conn, _ = serve(req(version="HTTP/1.0", headers=["Connection: keep-alive"]),
                          simple(body=[b"x"]))
    r = parse(conn.out)
    assert r.status_line.startswith("HTTP/1.1 200")
    assert (r.framing, r.get("Connection"), keep) == ("length", "keep-alive", True)


def test_head_request_gets_no_body_and_keeps_alive():
    keep, conn, _ = serve(req("HEAD"), simple(body=[b"not sent"]))
    r = parse(conn.out, "HEAD")
    assert r.rest == b""
    assert r.get("Transfer-Encoding") is None
    assert keep is True


def test_head_request_keeps_the_apps_content_length():
    keep, conn, _ = serve(req("HEAD"), simple(headers=[("Content-Length", "8")],
                                               body=[b"not sent"]))
    r = parse(conn.out, "HEAD")
    assert (r.get("Content-Length"), r.rest, keep) == ("8", b"", True)


def test_204_gets_no_body():
    keep, conn, _ = serve(req(), simple("204 No Content", body=[b"dropped"]))
    r = parse(conn.out)
    assert r.rest == b"" and r.get("Content-Length") is None
    assert keep is True


def test_write_callable_then_empty_iterable():
    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"via ")
        write(b"write")
        return []
    keep, conn, _ = serve(req(), app)
    r = parse(conn.out)
    assert (r.framing, r.body, keep) == ("chunked", b"via write", True)


def test_write_callable_then_single_piece():
    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"head-")
        return [b"tail"]
    keep, conn, _ = serve(req(), app)
    r = parse(conn.out)
    assert (r.framing, r.body, keep) == ("chunked", b"head-tail", True)


def test_connection_close_request_closes():
    keep, conn, _ = serve(req(headers=["Connection: close"]), simple())
    r = parse(conn.out)
    assert r.get("Connection") == "close"
    assert keep is False


def test_request_marked_not_keep_alive_closes():
    conn = FakeConn(req())
    conn.request.keep_alive = False          # e.g. the worker reached max-requests
    keep = handle(conn, conn.request, simple(), BASE, AccessLog())
    assert parse(conn.out).get("Connection") == "close"
    assert keep is False


def test_content_length_enforced_through_handler():
    keep, conn, _ = serve(req(), simple(headers=[("Content-Length", "3")],
                                        body=[b"ab", b"cd", b"ef"]))
    r = parse(conn.out)
    assert (r.body, keep) == (b"abc", True)


def test_short_content_length_closes_the_connection():
    keep, conn, _ = serve(req(), simple(headers=[("Content-Length", "30")],
                                        body=[b"ab", b"cd"]))
    assert conn.out.endswith(b"\r\n\r\nabcd")
    assert keep is False


@pytest.mark.parametrize("declared,keeps,body", [
    ("30", False, b"ab"),           # shorter than declared: the connection closes
    ("1", True, b"a"),              # longer than declared: cut to the length
    ("2", True, b"ab"),
])
def test_a_single_piece_body_against_the_apps_content_length(declared, keeps, body):
    keep, conn, _ = serve(req(), simple(headers=[("Content-Length", declared)],
                                        body=[b"ab"]))
    r = parse(conn.out)
    assert (r.get("Content-Length"), r.body, keep) == (declared, body, keeps)


def test_a_single_piece_body_of_a_204_is_not_sent():
    keep, conn, _ = serve(req(), simple(status="204 No Content", body=[b"ab"]))
    r = parse(conn.out)
    assert (r.framing, r.body, r.get("Content-Length"), keep) == ("none", b"", None, True)


def test_hop_by_hop_headers_do_not_reach_the_wire():
    keep, conn, _ = serve(req(), simple(headers=[("Transfer-Encoding", "gzip"),
                                                 ("Keep-Alive", "timeout=1"),
                                                 ("Upgrade", "h2c")],
                                        body=[b"a", b"b"]))
    r = parse(conn.out)
    names = {n.lower() for n, _ in r.headers}
    assert "keep-alive" not in names and "upgrade" not in names
    assert r.get("Transfer-Encoding") == "chunked"
    assert (r.body, keep) == (b"ab", True)


# -- environ and access log --------------------------------------------------------

def test_environ_and_access_log():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        start_response("201 Created", [])
        return [b"made"]

    keep, conn, access = serve(req("PUT", "/items/7?x=1"), app)
    assert seen["REQUEST_METHOD"] == "PUT"
    assert seen["PATH_INFO"] == "/items/7" and seen["QUERY_STRING"] == "x=1"
    assert seen["REMOTE_ADDR"] == "203.0.113.5" and seen["REMOTE_PORT"] == "40000"
    assert seen["SERVER_PORT"] == "8000" and seen["HTTP_HOST"] == "test"
    [(environ, status, sent, duration)] = access.calls
    assert environ["PATH_INFO"] == "/items/7"
    assert status == 201
    assert sent == len(conn.out)
    assert 0 <= duration < 60


# -- close() -----------------------------------------------------------------------

def test_close_called_once_after_success():
    result = Closing([b"a", b"b"])
    keep, conn, _ = serve(req(), lambda e, s: (s("200 OK", []), result)[1])
    assert result.closed == 1
    assert parse(conn.out).body == b"ab"


def test_close_called_once_when_iteration_fails_before_head():
    result = Closing([b"a"], fail_at=0)
    keep, conn, _ = serve(req(), lambda e, s: (s("200 OK", []), result)[1])
    assert result.closed == 1
    assert parse(conn.out).code == 500
    assert keep is False


def test_close_called_once_when_the_client_went_away():
    result = Closing([b"a", b"b", b"c"])
    keep, conn, access = serve(req(), lambda e, s: (s("200 OK", []), result)[1],
                               fail_sendall_after=0)
    assert result.closed == 1
    assert keep is False
    assert conn.out == b""
    assert len(access.calls) == 1


def test_close_called_once_when_the_client_goes_away_mid_body():
    result = Closing([b"a", b"b", b"c"])
    keep, conn, _ = serve(req(), lambda e, s: (s("200 OK", []), result)[1],
                          fail_sendall_after=1)
    assert result.closed == 1
    assert keep is False


def test_close_called_once_for_a_single_piece_list_subclass():
    class Body(list):
        closed = 0

        def close(self):
            Body.closed += 1

    keep, conn, _ = serve(req(), lambda e, s: (s("200 OK", []), Body([b"x"]))[1])
    assert Body.closed == 1
    assert parse(conn.out).body == b"x"


# -- app errors ----------------------------------------------------------------------

def test_exception_before_start_response_is_a_500(caplog):
    def app(environ, start_response):
        raise KeyError("secret internal detail")

    with caplog.at_level(logging.ERROR, logger="appserver"):
        keep, conn, access = serve(req(target="/boom"), app)
    r = parse(conn.out)
    assert r.code == 500
    assert r.get("Connection") == "close"
    assert r.body == b"500 Internal Server Error\n"
    assert b"secret" not in conn.out
    assert keep is False
    assert access.calls[0][1] == 500
    assert "GET /boom" in caplog.text and "KeyError" in caplog.text


def test_exception_after_head_closes_without_a_second_response(caplog):
    result = Closing([b"first", b"second"], fail_at=1)
    with caplog.at_level(logging.ERROR, logger="appserver"):
        keep, conn, access = serve(req(), lambda e, s: (s("200 OK", []), result)[1])
    assert keep is False
    assert conn.out.count(b"HTTP/1.1") == 1
    r = Parsed(conn.out, complete=False)
    assert r.code == 200
    assert r.rest == b"5\r\nfirst\r\n"           # no last-chunk: the client sees it cut
    assert result.closed == 1
    assert access.calls[0][1] == 200
    assert "RuntimeError" in caplog.text


def test_close_delimited_body_resets_until_complete():
    """Armed as its head goes out (a worker killed mid-body resets too),
    disarmed once the body is whole: then the close is clean."""
    keep, conn, _ = serve(req(version="HTTP/1.0"),
                          lambda e, s: (s("200 OK", []), iter([b"a", b"b"]))[1])
    assert (keep, conn.abort_calls, conn.aborted) == (False, [True, False], False)
    assert parse(conn.out).body == b"ab"


def test_exception_mid_body_of_a_close_delimited_response_resets():
    for version, aborted in (("HTTP/1.0", True), ("HTTP/1.1", False)):
        result = Closing([b"first", b"second"], fail_at=1)
        keep, conn, _ = serve(req(version=version),
                              lambda e, s, result=result: (s("200 OK", []), result)[1])
        assert (keep, conn.aborted) == (False, aborted), version
    result = Closing([b"first", b"second"], fail_at=1)      # a length: no reset
    keep, conn, _ = serve(req(version="HTTP/1.0"),
                          lambda e, s: (s("200 OK", [("Content-Length", "11")]), result)[1])
    assert (keep, conn.aborted) == (False, False)


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols",
                                    "103 Early Hints"])
def test_1xx_status_from_the_app_is_a_500_and_logged(status, caplog):
    with caplog.at_level(logging.ERROR, logger="appserver"):
        keep, conn, _ = serve(req(), simple(status=status))
    r = parse(conn.out)
    assert (r.code, keep) == (500, False)
    assert conn.out.count(b"HTTP/1.1") == 1
    assert "1xx status is interim" in caplog.text


@pytest.mark.parametrize("app", [
    lambda e, s: 1 / 0,
    simple(status="100 Continue"),
    simple(headers=[("Content-Length", "1"), ("Content-Length", "1")]),
])
def test_server_made_answer_to_head_has_no_body(app):
    keep, conn, _ = serve(req(method="HEAD"), app)
    head, _, rest = bytes(conn.out).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ") and rest == b""
    assert b"Content-Length: 26" in head


@pytest.mark.parametrize("app", [
    simple(status="200 OK\r\nSet-Cookie: injected=1"),
    simple(status="200 OK\n"),
    simple(status="OK"),
    simple(headers=[("X-A", "v\r\nSet-Cookie: injected=1")]),
    simple(headers=[("X-A", "v\nx")]),
    simple(headers=[("Bad Name", "v")]),
    simple(headers=[("Content-Length", "many")]),
    simple(body=["not bytes"]),
    simple(body=["not bytes", b"ok"]),
    simple(body=[bytearray(b"not bytes either")]),
], ids=["status-crlf", "status-lf", "status-no-code", "value-crlf", "value-lf",
        "name-space", "bad-length", "str-piece", "str-first-of-two", "bytearray-piece"])
def test_invalid_response_from_the_app_is_a_500(app):
    keep, conn, _ = serve(req(), app)
    r = parse(conn.out)
    assert r.code == 500
    assert b"injected" not in conn.out
    assert keep is False


def test_invalid_piece_after_the_head_closes_the_connection(caplog):
    keep, conn, _ = serve(req(), simple(body=[b"ok", "not bytes"]))
    r = Parsed(conn.out, complete=False)
    assert (r.code, r.rest) == (200, b"2\r\nok\r\n")
    assert keep is False
    assert "body pieces must be bytes" in caplog.text


def test_app_returning_without_start_response_is_a_500():
    keep, conn, _ = serve(req(), lambda environ, start_response: [])
    assert parse(conn.out).code == 500
    assert keep is False


def test_start_response_twice_is_a_500():
    def app(environ, start_response):
        start_response("200 OK", [])
        start_response("201 Created", [])
        return [b"x"]
    keep, conn, _ = serve(req(), app)
    assert parse(conn.out).code == 500


def test_exc_info_before_head_sends_the_apps_error_page():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            raise ValueError("x")
        except ValueError:
            start_response("503 Service Unavailable", [("Retry-After", "5")],
                           sys.exc_info())
        return [b"try later"]
    keep, conn, _ = serve(req(), app)
    r = parse(conn.out)
    assert r.status_line == "HTTP/1.1 503 Service Unavailable"
    assert r.get("Retry-After") == "5" and r.get("Content-Type") is None
    assert (r.body, keep) == (b"try later", True)


def test_exc_info_after_head_reraises_and_closes():
    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"partial")
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"never"]
    keep, conn, _ = serve(req(), app)
    assert conn.out.count(b"HTTP/1.1") == 1
    assert b"never" not in conn.out and b"500" not in conn.out
    assert keep is False


# -- request body ----------------------------------------------------------------------

def echo(environ, start_response):
    data = environ["wsgi.input"].read()
    start_response("200 OK", [])
    return [data]


def test_body_is_read_by_the_app():
    keep, conn, _ = serve(req("POST", headers=["Content-Length: 5"], body=b"hello"), echo)
    assert (parse(conn.out).body, keep) == (b"hello", True)
    assert conn.discards == []
    assert conn.continues == 0


def test_chunked_body_is_read_by_the_app():
    raw = req("POST", headers=["Transfer-Encoding: chunked"],
              body=b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    keep, conn, _ = serve(raw, echo)
    assert (parse(conn.out).body, keep) == (b"abcde", True)


def test_expect_continue_sends_100_before_the_first_read():
    raw = req("POST", headers=["Content-Length: 3", "Expect: 100-continue"], body=b"abc")
    keep, conn, _ = serve(raw, echo)
    assert conn.continues == 1
    assert conn.out.startswith(writer.CONTINUE)
    r = parse(conn.out[len(writer.CONTINUE):])
    assert (r.code, r.body, keep) == (200, b"abc", True)


def test_expect_continue_unread_body_closes_without_100():
    raw = req("POST", headers=["Content-Length: 3", "Expect: 100-continue"], body=b"abc")
    keep, conn, _ = serve(raw, simple("413 Content Too Large", body=[b"no"]))
    assert conn.continues == 0
    assert writer.CONTINUE not in conn.out
    assert parse(conn.out).code == 413
    assert keep is False
    assert conn.discards == []


def test_unread_body_is_skipped_to_keep_alive():
    raw = req("POST", headers=["Content-Length: 5"], body=b"hello")
    keep, conn, _ = serve(raw, simple())
    assert conn.discards == [UNREAD_BODY_LIMIT]
    assert keep is True


def test_partly_read_body_is_skipped():
    def app(environ, start_response):
        first = environ["wsgi.input"].read(2)
        start_response("200 OK", [])
        return [first]
    raw = req("POST", headers=["Content-Length: 5"], body=b"hello")
    keep, conn, _ = serve(raw, app)
    assert parse(conn.out).body == b"he"
    assert conn.discards == [UNREAD_BODY_LIMIT]
    assert keep is True
    assert conn.parser.buffered == 0


def test_too_much_unread_body_closes_the_connection():
    raw = req("POST", headers=["Content-Length: 5"], body=b"hello")
    keep, conn, _ = serve(raw, simple(), discard_result=False)
    assert conn.discards == [UNREAD_BODY_LIMIT]
    assert keep is False


def test_request_without_body_keeps_alive():
    keep, conn, _ = serve(req(), simple())
    assert keep is True


def test_bad_chunked_body_is_answered_with_400(caplog):
    raw = req("POST", headers=["Transfer-Encoding: chunked"], body=b"zz\r\nabc\r\n")
    with caplog.at_level(logging.INFO, logger="appserver"):
        keep, conn, access = serve(raw, echo)
    r = parse(conn.out)
    assert r.code == 400
    assert r.get("Connection") == "close"
    assert r.body.startswith(b"400 Bad Request")
    assert keep is False
    assert access.calls[0][1] == 400


def test_client_stalling_mid_body_closes_without_a_response():
    raw = req("POST", headers=["Content-Length: 10"], body=b"abc")   # 7 bytes missing
    keep, conn, _ = serve(raw, echo)
    assert conn.out == b""
    assert keep is False


# -- wsgi.file_wrapper ---------------------------------------------------------------

@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def file_app(path, headers=(), seek=0, before=None):
    opened = []

    def app(environ, start_response):
        write = start_response("200 OK", list(headers))
        if before:
            write(before)
        f = open(path, "rb")
        f.seek(seek)
        opened.append(f)
        return environ["wsgi.file_wrapper"](f)
    app.opened = opened
    return app


def test_file_wrapper_uses_sendfile_with_a_length(data_file):
    app = file_app(data_file)
    keep, conn, _ = serve(req(), app)
    r = parse(conn.out)
    assert r.get("Content-Length") == "1024"
    assert r.body == data_file.read_bytes()
    assert [(off, n) for _, off, n in conn.sendfiles] == [(0, 1024)]
    assert app.opened[0].closed, "close() did not reach the file"
    assert keep is True


def test_file_wrapper_starts_at_the_current_offset(data_file):
    keep, conn, _ = serve(req(), file_app(data_file, seek=1000))
    r = parse(conn.out)
    assert r.get("Content-Length") == "24"
    assert r.body == data_file.read_bytes()[1000:]
    assert [(off, n) for _, off, n in conn.sendfiles] == [(1000, 24)]


def test_file_wrapper_respects_a_shorter_content_length(data_file):
    keep, conn, _ = serve(req(), file_app(data_file, headers=[("Content-Length", "10")]))
    r = parse(conn.out)
    assert r.body == data_file.read_bytes()[:10]
    assert keep is True


def test_file_wrapper_shorter_than_content_length_closes(data_file):
    keep, conn, _ = serve(req(), file_app(data_file, headers=[("Content-Length", "2000")]))
    assert keep is False


def test_file_wrapper_on_head_sends_no_file(data_file):
    app = file_app(data_file)
    keep, conn, _ = serve(req("HEAD"), app)
    r = parse(conn.out, "HEAD")
    assert r.rest == b"" and conn.sendfiles == []
    assert app.opened[0].closed
    assert keep is True


def test_file_wrapper_over_a_non_file_is_iterated():
    stream = io.BytesIO(b"in memory " * 10)

    def app(environ, start_response):
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](stream, 16)

    keep, conn, _ = serve(req(), app)
    r = parse(conn.out)
    assert r.body == b"in memory " * 10
    assert conn.sendfiles == []
    assert stream.closed
    assert keep is True


def serve_in_loop(raw, app):
    conn = FakeConn(raw)
    access = AccessLog()
    return handle(conn, conn.request, app, BASE, access, loop_send=True), conn, access


def test_file_wrapper_left_to_the_loop_ends_when_closed(data_file):
    app = file_app(data_file)
    later, conn, access = serve_in_loop(req(), app)
    assert isinstance(later, FileSend) and later.keep is True
    assert (later.offset, later.count, later.head, later.data) == (0, 1024, b"", b"")
    r = Parsed(conn.out, complete=False)
    assert r.get("Content-Length") == "1024" and r.rest == b""
    assert conn.sendfiles == [] and access.calls == []
    assert not app.opened[0].closed, "closed before the file went out"
    ended = []
    later.ended = ended.append
    later.sent, later.count = 1024, 0       # as the connection leaves it, all sent
    later.close()
    later.close()
    assert app.opened[0].closed and ended == [later]
    assert len(access.calls) == 1
    assert access.calls[0][1:3] == (200, len(conn.out) + 1024)


def test_file_wrapper_cut_short_in_the_loop_is_not_kept(data_file):
    later, conn, access = serve_in_loop(req(), file_app(data_file))
    later.sent, later.count = 100, 924      # the client went away
    later.close()
    assert access.calls[0][2] == len(conn.out) + 100


@pytest.mark.parametrize("method, headers", [("HEAD", []), ("GET", [("Content-Length", "2000")])])
def test_file_wrapper_left_to_the_loop_only_as_the_whole_body(data_file, method, headers):
    """HEAD sends no file; a file shorter than its Content-Length is sent
    in the call (the response then closes the connection)."""
    app = file_app(data_file, headers=headers)
    keep, conn, access = serve_in_loop(req(method), app)
    assert type(keep) is bool and app.opened[0].closed and len(access.calls) == 1


# -- WorkerTimeout -------------------------------------------------------------------

def test_worker_timeout_answers_504_and_is_reraised():
    def app(environ, start_response):
        raise WorkerTimeout()

    conn = FakeConn(req())
    access = AccessLog()
    with pytest.raises(WorkerTimeout):
        handle(conn, conn.request, app, BASE, access)
    r = parse(conn.out)
    assert r.code == 504
    assert r.get("Connection") == "close"
    assert access.calls[0][1] == 504
    conn = FakeConn(req(method="HEAD"))
    with pytest.raises(WorkerTimeout):
        handle(conn, conn.request, app, BASE, access)
    assert bytes(conn.out).startswith(b"HTTP/1.1 504 ")
    assert bytes(conn.out).endswith(b"\r\n\r\n")


def test_worker_timeout_after_head_sends_no_504_and_closes_iterable():
    state = {"closed": 0}

    class Slow:
        def __iter__(self):
            yield b"partial"
            raise WorkerTimeout()

        def close(self):
            state["closed"] += 1

    conn = FakeConn(req())
    with pytest.raises(WorkerTimeout):
        handle(conn, conn.request, lambda e, s: (s("200 OK", []), Slow())[1], BASE,
               AccessLog())
    assert b"504" not in conn.out
    r = Parsed(conn.out, complete=False)
    assert (r.code, r.rest) == (200, b"7\r\npartial\r\n")
    assert state["closed"] == 1


# -- regressions and known bugs ------------------------------------------------

def test_file_wrapper_after_write_stays_chunked(data_file):
    keep, conn, _ = serve(req(), file_app(data_file, before=b"prefix"))
    r = parse(conn.out)
    assert r.framing == "chunked"
    assert r.body == b"prefix" + data_file.read_bytes()


def test_no_100_continue_after_the_response_started():
    # regression: a 100 Continue used to be injected in the middle of the body
    def app(environ, start_response):
        write = start_response("200 OK", [])
        write(b"early ")
        return [environ["wsgi.input"].read()]
    raw = req("POST", headers=["Content-Length: 3", "Expect: 100-continue"], body=b"abc")
    keep, conn, _ = serve(raw, app)
    r = parse(conn.out)
    assert r.code == 200
    assert r.body == b"early abc"
    assert writer.CONTINUE not in conn.out


def test_non_latin1_header_value_is_a_500():
    # regression: the client used to get an empty reply
    keep, conn, _ = serve(req(), simple(headers=[("X-Price", "5 \u20ac")]))
    assert parse(conn.out).code == 500
    assert keep is False


def test_write_of_str_is_a_500():
    # regression: the client used to get an empty reply
    def app(environ, start_response):
        start_response("200 OK", [])("text, not bytes")
        return []
    keep, conn, _ = serve(req(), app)
    assert parse(conn.out).code == 500


def test_oserror_raised_by_the_app_is_a_logged_500(caplog):
    # regression: every OSError used to be taken for a client gone (no 500, DEBUG log)
    def app(environ, start_response):
        open("/nonexistent/template.html")

    with caplog.at_level(logging.INFO, logger="appserver"):
        keep, conn, _ = serve(req(), app)
    assert parse(conn.out).code == 500
    assert "FileNotFoundError" in caplog.text
    assert keep is False
