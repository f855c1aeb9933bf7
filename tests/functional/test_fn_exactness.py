"""HTTP and WSGI exactness over real sockets: the app sees only what the
client sent, and the client gets only well-formed answers.

One tiny app per behaviour (tests/apps): the request id stays out of the
``HTTP_`` keys; ``SERVER_NAME``/``SERVER_PORT`` are the listener's (on a unix
socket the port is ``Host``'s, as in Gunicorn); a 1xx status from the app is
a logged 500 that ends the connection; server-made answers to ``HEAD`` (400,
408, 500, 504, invalid headers) have no body; 205 has none and
``Content-Length: 0``; a close-delimited body cut short (the app raised, or
its worker was killed) ends in a reset, not a clean close; a request line
without a version is answered 400 at once; app-side framing errors are named
in the log; ``wsgi.input.read()`` of 50 MB costs the worker about the body's
size. A property test sends generated requests to a real server and checks
that the app's ``HTTP_`` keys are the header names sent.
"""
import json
import os
import re
import signal

import pytest
from hypothesis import HealthCheck, given, settings

from tests.http.http_strategies import environ_requests, sent_http_keys
from tests.harness.clients import read_response, recv_until_closed
from tests.harness.server import Server


def exchange(server, data, timeout=10.0):
    """Send ``data`` on a new connection; everything until the server closes."""
    with server.connect(timeout) as sock:
        sock.sendall(data)
        return recv_until_closed(sock, timeout)


def head_and_rest(data):
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, "no complete head in %r" % data[:300]
    return head, rest


# -- the request id is no HTTP_ variable ----------------------------------------------

def test_request_id_lives_in_appserver_request_id_only(server_factory):
    server = server_factory("environ_dump", "--forwarded-allow-ips", "10.0.0.0/8",
                            "--access-logfile", "-", "--access-log-format", "json")
    env = server.get("/").json()
    assert "HTTP_X_REQUEST_ID" not in env
    rid = env["appserver.request_id"]["value"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    # An untrusted client's own X-Request-ID reaches the app exactly as sent;
    # the id the server uses is a new one.
    env = server.get("/", headers={"X-Request-ID": "client-7"}).json()
    assert env["HTTP_X_REQUEST_ID"]["value"] == "client-7"
    assert env["appserver.request_id"]["value"] not in ("client-7", rid)
    logged = [json.loads(line)["request_id"] for line in server.wait_for_stdout_lines(2)]
    assert logged == [rid, env["appserver.request_id"]["value"]]


# -- SERVER_NAME / SERVER_PORT / HTTP_HOST ----------------------------------------------

def raw_environ(server, request):
    data = exchange(server, request)
    head, body = head_and_rest(data)
    assert head.startswith(b"HTTP/1.1 200 "), head
    return {k: v["value"] for k, v in json.loads(body).items() if "value" in v}


@pytest.mark.parametrize("target,host,http_host", [
    (b"/", b"a:8081", "a:8081"),
    (b"/", b"localhost", "localhost"),
    (b"http://origin.test:8081/p", b"ignored.test", "origin.test:8081"),
])
def test_server_port_is_the_listening_port_whatever_host_says(server_factory, target,
                                                             host, http_host):
    server = server_factory("environ_dump")
    env = raw_environ(server, b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                      % (target, host))
    assert env["SERVER_PORT"] == str(server.port)
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["HTTP_HOST"] == http_host


def test_on_a_unix_socket_server_port_comes_from_host(server_factory):
    server = server_factory("environ_dump", unix=True)
    for host, port in ((b"a:8081", "8081"), (b"evil.test", "80")):
        env = raw_environ(server, b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                          % host)
        assert (env["SERVER_NAME"], env["SERVER_PORT"], env["HTTP_HOST"]) == (
            "localhost", port, host.decode())


# -- a 1xx status from the app ------------------------------------------------------

@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols",
                                    "103 Early Hints"])
def test_1xx_from_the_app_is_a_500_that_ends_the_connection(server_factory, status):
    server = server_factory("interim_status")
    query = status.replace(" ", "+").encode()
    # Pipelined: the second request must never be answered as if it were the first.
    data = exchange(server, b"GET /?status=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n" % query)
    head, body = head_and_rest(data)
    assert head.startswith(b"HTTP/1.1 500 ")
    assert b"Connection: close" in head
    assert body == b"500 Internal Server Error\n"          # and nothing after it
    server.wait_for_log(r"1xx status is interim")
    # http.client does not hang on it, HTTP/1.0 clients get the same.
    assert server.get("/?status=%s" % query.decode(), timeout=5).status == 500
    data = exchange(server, b"GET /?status=%s HTTP/1.0\r\n\r\n" % query)
    assert data.startswith(b"HTTP/1.1 500 ")


# -- no body after HEAD, 204/205/304 -----------------------------------------------------

def assert_head_only(data, status):
    head, rest = head_and_rest(data)
    assert head.startswith(b"HTTP/1.1 %d " % status), head
    assert rest == b"", "a body followed the head of a HEAD answer: %r" % rest


def test_app_error_answer_to_head_has_no_body(server_factory):
    server = server_factory("crash")
    assert_head_only(exchange(server, b"HEAD /before HTTP/1.1\r\nHost: x\r\n\r\n"), 500)


def test_invalid_headers_answer_to_head_has_no_body_and_names_the_duplicate(server_factory):
    server = server_factory("duplicate_length")
    assert_head_only(exchange(server, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"), 500)
    server.wait_for_log(r"Content-Length duplicated \(2, then '2'\)")
    assert server.get("/?second=3").status == 500
    server.wait_for_log(r"Content-Length duplicated \(2, then '3'\)")


def test_timeout_answer_to_head_has_no_body(server_factory):
    server = server_factory("slow", "--timeout", "1")
    assert_head_only(exchange(server, b"HEAD /?s=30 HTTP/1.1\r\nHost: x\r\n\r\n",
                              timeout=30), 504)


def test_refused_head_request_has_no_body(server_factory):
    server = server_factory("hello")
    assert_head_only(exchange(server, b"HEAD / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400)


def test_head_whose_head_times_out_gets_a_408_without_body(server_factory):
    server = server_factory("hello", "--header-timeout", "0.5")
    assert_head_only(exchange(server, b"HEAD / HTTP/1.1\r\nHost: a\r\n"), 408)


def test_205_has_no_body_and_content_length_0(server_factory):
    server = server_factory("reset_content")
    with server.connect() as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        data = recv_until_closed(sock)
    first, rest = head_and_rest(data)
    second, after = head_and_rest(rest)          # the next response follows at once
    for head in (first, second):
        assert head.startswith(b"HTTP/1.1 205 ")
        assert re.findall(rb"(?im)^content-length:[^\r]*", head) == [b"Content-Length: 0"]
    assert after == b""
    server.wait_for_log(r"body with a 205 response; not sent")


# -- a close-delimited body cut short ends in a reset ---------------------------------

def test_http10_body_cut_short_is_reset_not_closed(server_factory):
    server = server_factory("midbody_error")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        received = b""
        with pytest.raises(ConnectionResetError):
            while True:
                data = sock.recv(65536)
                assert data, "clean EOF after %r: looks like a complete response" % received
                received += data
    assert received == b"" or received.startswith(b"HTTP/1.1 200 ")
    server.wait_for_log(r"RuntimeError: boom in the middle of the body")


def recv_all_or_reset(sock):
    """(bytes received, True if the connection was reset rather than closed)."""
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return received, True
        if not data:
            return received, False
        received += data


def test_http10_body_of_a_killed_worker_is_reset(server_factory):
    server = server_factory("stall_midbody")
    with server.connect() as sock:
        sock.sendall(b"GET /?stall=1 HTTP/1.0\r\n\r\n")
        [line] = server.wait_for_records("stall.log", 1)
        os.kill(int(line.split()[1]), signal.SIGKILL)
        received, reset = recv_all_or_reset(sock)
    assert reset, "clean EOF after %r: looks like a complete response" % received


def test_complete_http10_close_delimited_body_ends_cleanly(server_factory):
    server = server_factory("stall_midbody")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        received, reset = recv_all_or_reset(sock)
    assert not reset and received.endswith(b"\r\n\r\npartial done")
    assert b"content-length" not in received.lower()


def test_http11_body_cut_short_lacks_its_last_chunk(server_factory):
    server = server_factory("midbody_error")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = read_response(sock.makefile("rb"))
    assert resp.chunked and not resp.complete and resp.body == b"partial body"


# -- HTTP/0.9 request line ------------------------------------------------------------

def test_request_line_without_version_is_answered_400_at_once(server_factory):
    server = server_factory("hello", "--header-timeout", "60")
    with server.connect(timeout=5) as sock:     # far less than header-timeout
        sock.sendall(b"GET /\r\n")
        data = recv_until_closed(sock, timeout=5)
    head, body = head_and_rest(data)
    assert head.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in head
    assert b"without an HTTP version" in body


# -- wsgi.input.read() memory ----------------------------------------------------------

def test_read_of_a_50_mb_body_costs_about_its_size(server_factory):
    size = 50 * 1000 * 1000
    server = server_factory("read_all")
    with server.connect(timeout=60) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        piece = b"u" * (1 << 20)
        left = size
        while left:
            left -= sock.send(piece[:min(left, len(piece))])
        resp = read_response(sock.makefile("rb"))
    report = resp.json()
    assert report["length"] == size
    rise = report["peak"] - report["rss_before"]
    assert rise < 60 * 1000 * 1000, "read() raised the peak RSS by %.1f MB" % (rise / 1e6)


# -- property: the app's HTTP_ keys are the header names sent ---------------------------

@pytest.fixture(scope="module")
def dump_server():
    """One server for every generated request (no proxy is trusted)."""
    server = Server("environ_dump", ("--forwarded-allow-ips", ""))
    server.start()
    yield server
    server.cleanup()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(environ_requests(methods_allowed=("GET", "POST", "PUT", "DELETE", "PATCH",
                                         "OPTIONS")))
def test_app_sees_exactly_the_header_names_sent(dump_server, request_and_names):
    data, names = request_and_names
    with dump_server.connect() as sock:
        sock.sendall(data)
        resp = read_response(sock.makefile("rb"))
    assert resp.status == 200, (data, resp.body[:300])
    keys = {k for k in resp.json() if k.startswith("HTTP_")}
    assert keys == sent_http_keys(names), data
