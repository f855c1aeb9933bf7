"""``--protocol uwsgi`` over real sockets, with raw uwsgi packets (no nginx).

A packet gets a plain HTTP/1.x response and the server closes the connection
after it; a response of unknown length is ended by the close (never
chunked); a malformed packet is closed without a byte and logged; a peer
outside ``uwsgi-allow-ips`` is closed before it is read, while unix-socket
peers are allowed; limits are answered with their HTTP status; the
trusted-proxy rules and --script-name apply to the environ from the vars.
"""
import hashlib
import io
import json
import os

import pytest

from appserver.http.uwsgi import pack
from tests.harness.clients import read_response, recv_until_closed

UWSGI = ("--protocol", "uwsgi")


def vars_for(method="GET", uri="/", body=b"", **extra):
    path, _, query = uri.partition("?")
    pairs = [("REQUEST_METHOD", method), ("REQUEST_URI", uri), ("PATH_INFO", path),
             ("QUERY_STRING", query), ("SERVER_PROTOCOL", "HTTP/1.1"),
             ("CONTENT_LENGTH", str(len(body)) if body else ""),
             ("REMOTE_ADDR", "203.0.113.9"), ("REMOTE_PORT", "4321"),
             ("SERVER_NAME", "example.com"), ("SERVER_PORT", "443"),
             ("HTTP_HOST", "example.com")]
    return pairs + list(extra.items())


def exchange(srv, packet):
    """Send one packet; everything the server sent until it closed."""
    with srv.connect() as sock:
        sock.sendall(packet)
        return recv_until_closed(sock)


def response_of(data, method="GET"):
    return read_response(io.BufferedReader(io.BytesIO(data)), method)


@pytest.fixture
def front(server_factory):
    return server_factory("front:application", *UWSGI)


def test_packet_gets_an_http_response_then_the_connection_closes(front):
    data = exchange(front, pack(vars_for(uri="/a%20b?x=1", HTTPS="on",
                                         HTTP_X_TRACE="t-1")))
    resp = response_of(data)
    assert resp.status == 200 and resp.version.startswith("HTTP/1.")
    assert resp.header("connection") == "close" and resp.complete
    env = resp.json()
    assert (env["REQUEST_METHOD"], env["QUERY_STRING"]) == ("GET", "x=1")
    assert env["PATH_INFO"] == "/a%20b"           # as sent: nginx decoded it already
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("203.0.113.9", "4321")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "443")
    assert env["wsgi.url_scheme"] == "https" and env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_X_TRACE"] == "t-1"
    front.assert_log_clean()


def test_response_of_unknown_length_ends_with_the_connection(front):
    body = os.urandom(1 << 20)
    data = exchange(front, pack(vars_for("POST", "/roundtrip", body)) + body)
    resp = response_of(data, "POST")
    assert resp.status == 200 and resp.header("content-length") is None
    assert resp.header("transfer-encoding") is None and not resp.chunked
    assert resp.header("x-body-sha256") == hashlib.sha256(body).hexdigest()
    assert resp.body == body


def test_malformed_packet_is_closed_unanswered_and_logged(front):
    assert exchange(front, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    front.wait_for_log(r"bad uwsgi packet: modifier1 is 71, not 0 \(an HTTP request\?\)")
    assert exchange(front, pack(vars_for()[1:])) == b""            # no REQUEST_METHOD
    front.wait_for_log(r"bad uwsgi packet: REQUEST_METHOD missing")
    assert response_of(exchange(front, pack(vars_for()))).status == 200   # still serving


def test_the_access_line_of_a_malformed_packet_counts_no_bytes_sent(server_factory):
    """Nothing is sent for a malformed packet, and its access line says so
    (%(B)s: body bytes sent), while a limit's 4xx answer counts its body."""
    srv = server_factory("front:application", *UWSGI, "--access-logfile", "-",
                         "--access-log-format", "%(s)s %(B)s", "--limit-request-line",
                         "64")
    assert exchange(srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    resp = response_of(exchange(srv, pack(vars_for(uri="/" + "a" * 100))))
    assert resp.status == 414
    srv.wait_for_log(r"414")
    assert srv.wait_for_stdout_lines(2) == ["400 0", "414 %d" % len(resp.body)]


def test_peer_outside_the_allow_list_is_closed_unix_peers_are_allowed(server_factory):
    srv = server_factory("front:application", *UWSGI, "--uwsgi-allow-ips", "10.0.0.0/8",
                         unix=True)
    assert response_of(exchange(srv, pack(vars_for()))).status == 200
    tcp = server_factory("front:application", *UWSGI, "--uwsgi-allow-ips", "10.0.0.0/8",
                         "--header-timeout", "60")
    with tcp.connect() as sock:             # closed at accept, before any byte is read
        assert recv_until_closed(sock, timeout=5) == b""
    tcp.wait_for_log(r"client 127\.0\.0\.1:\d+: not in uwsgi-allow-ips; closed")
    assert exchange(tcp, pack(vars_for())) == b""


def test_allowed_network_is_served(server_factory):
    srv = server_factory("front:application", *UWSGI, "--uwsgi-allow-ips", "127.0.0.0/8")
    assert response_of(exchange(srv, pack(vars_for()))).status == 200


def test_body_over_the_limit_is_answered_413(server_factory):
    srv = server_factory("front:application", *UWSGI, "--limit-request-body", "10")
    body = b"x" * 11
    resp = response_of(exchange(srv, pack(vars_for("POST", "/roundtrip", body)) + body))
    assert resp.status == 413


def test_the_environ_comes_from_the_vars_not_from_http_parsing(front):
    """Control bytes nginx decoded into PATH_INFO reach the app as they are."""
    pairs = [p for p in vars_for() if p[0] != "PATH_INFO"] + [("PATH_INFO", "/a%2Fb\n")]
    env = json.loads(response_of(exchange(front, pack(pairs))).body)
    assert env["PATH_INFO"] == "/a%2Fb\n"


def test_forwarded_headers_are_trusted_by_the_client_address_the_vars_give(front):
    """The trusted-proxy rules see REMOTE_ADDR from the vars: nginx's own peer."""
    xff = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", "HTTP_X_FORWARDED_PROTO": "https"}
    trusted = [p for p in vars_for(**xff) if p[0] != "REMOTE_ADDR"]
    trusted.append(("REMOTE_ADDR", "127.0.0.1"))
    env = response_of(exchange(front, pack(trusted))).json()
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"]) == ("198.51.100.7", "https")
    env = response_of(exchange(front, pack(vars_for(**xff)))).json()   # from 203.0.113.9
    assert env["REMOTE_ADDR"] == "203.0.113.9" and "HTTP_X_FORWARDED_FOR" not in env
    assert env["wsgi.url_scheme"] == "http"


def test_script_name_moves_the_prefix_out_of_path_info(server_factory):
    srv = server_factory("front:application", *UWSGI, "--script-name", "/app")
    env = response_of(exchange(srv, pack(vars_for(uri="/app/page?q=1")))).json()
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/page")
    assert response_of(exchange(srv, pack(vars_for(uri="/other")))).status == 404
