"""PROXY protocol over a real server: the header sets the client address for
every request on the connection, is read before HTTP within header-timeout
without holding up the worker, and anything else closes the connection."""
import ipaddress
import json
import signal
import struct
import time

import pytest

from appserver.http.proxy_protocol import V2_SIGNATURE
from tests.harness.clients import admin_get
from tests.harness.process import wait_until

from .conftest import connection_over, get_json

pytestmark = pytest.mark.timeout(60)

V1 = b"PROXY TCP4 203.0.113.9 198.51.100.20 40001 443\r\n"


def v2_ipv6():
    block = (ipaddress.ip_address("2001:db8::9").packed
             + ipaddress.ip_address("2001:db8::20").packed + struct.pack("!HH", 40002, 8443))
    return V2_SIGNATURE + b"\x21\x21" + struct.pack("!H", len(block)) + block


def assert_closed_without_answer(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        data = b""
    assert data == b"", data


def test_v1_header_sets_the_client_for_every_request_on_the_connection(serve):
    server = serve("--proxy-protocol")
    sock = server.connect()
    sock.sendall(V1)
    conn = connection_over(sock)
    for _ in range(3):
        env = get_json(conn, "/")
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("203.0.113.9", "40001")


def test_v2_ipv6_header_and_destination_without_host(serve):
    server = serve("--proxy-protocol")
    sock = server.connect()
    sock.sendall(v2_ipv6() + b"GET / HTTP/1.0\r\n\r\n")
    data = sock.makefile("rb").read()
    env = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("2001:db8::9", "40002")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("2001:db8::20", "8443")


def test_v2_local_keeps_the_real_peer(serve):
    server = serve("--proxy-protocol")
    sock = server.connect()
    sock.sendall(V2_SIGNATURE + b"\x20\x00\x00\x00")
    env = get_json(connection_over(sock), "/")
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert int(env["REMOTE_PORT"]) == sock.getsockname()[1]


def test_a_header_in_pieces_is_assembled(serve):
    server = serve("--proxy-protocol")
    sock = server.connect()
    for piece in (V1[:7], V1[7:30], V1[30:]):
        sock.sendall(piece)
        time.sleep(0.05)        # separate segments: the worker sees a partial header
    env = get_json(connection_over(sock), "/")
    assert env["REMOTE_ADDR"] == "203.0.113.9"


def test_the_header_and_the_request_in_one_segment(serve):
    server = serve("--proxy-protocol")
    sock = server.connect()
    sock.sendall(V1 + b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    data = sock.makefile("rb").read()
    assert data.startswith(b"HTTP/1.1 200 ") and b'"REMOTE_ADDR": "203.0.113.9"' in data


def test_no_header_closes_the_connection(serve):
    server = serve("--proxy-protocol")
    sock = server.connect()
    sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert_closed_without_answer(sock)
    server.wait_for_log(r"no PROXY protocol header; closed")


def test_malformed_header_closes_the_connection(serve):
    server = serve("--proxy-protocol")
    sock = server.connect()
    sock.sendall(b"PROXY TCP4 203.0.113.9 198.51.100.20 40001 99999\r\nGET / HTTP/1.1\r\n\r\n")
    assert_closed_without_answer(sock)


def test_peer_not_in_proxy_allow_ips_is_closed_at_once(serve):
    server = serve("--proxy-protocol", "--proxy-allow-ips", "10.0.0.0/8")
    sock = server.connect()
    assert_closed_without_answer(sock)       # before it sent anything
    server.wait_for_log(r"not in proxy-allow-ips; closed")


def test_forwarded_headers_are_judged_by_the_proxied_address(serve):
    server = serve("--proxy-protocol")           # forwarded-allow-ips: loopback only
    sock = server.connect()
    sock.sendall(V1)
    env = get_json(connection_over(sock), "/", {"X-Forwarded-For": "6.6.6.6"})
    assert env["REMOTE_ADDR"] == "203.0.113.9" and env["headers"] == []


def test_slow_header_is_closed_at_header_timeout_and_does_not_block_others(serve):
    server = serve("--proxy-protocol", "--header-timeout", "1.5")     # one worker
    slow = server.connect()
    slow.sendall(V1[:10])
    started = time.monotonic()
    fast = server.connect()
    fast.sendall(V1)
    assert get_json(connection_over(fast), "/")["REMOTE_ADDR"] == "203.0.113.9"
    assert time.monotonic() - started < 1.0, "the worker waited for the slow header"
    assert_closed_without_answer(slow, timeout=5.0)
    assert 1.3 < time.monotonic() - started < 4.0


def test_unix_socket_listener_takes_proxy_headers(serve, sock_dir):
    server = serve("--proxy-protocol", "--proxy-allow-ips", "10.9.9.9",
                   bind="unix:%s" % (sock_dir / "p.sock"))
    sock = server.connect()
    sock.sendall(V1)
    assert get_json(connection_over(sock), "/")["REMOTE_ADDR"] == "203.0.113.9"


def test_without_proxy_protocol_a_header_is_a_bad_request(serve):
    server = serve()
    sock = server.connect()
    sock.sendall(V1 + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 400 ")


def test_the_proxied_client_survives_a_handoff(serve):
    """A request that arrives on an idle connection while its worker runs
    another one is passed on through the hand-off pair (here back to the
    same worker, once free: there is one); the addresses from its PROXY
    header move with it."""
    server = serve("--proxy-protocol", "--admin-bind", "127.0.0.1:0",   # one worker
                   "--admin-show-query")
    idle = server.connect()
    idle.sendall(V1)
    idle_conn = connection_over(idle)
    first = get_json(idle_conn, "/")
    assert first["REMOTE_ADDR"] == "203.0.113.9"
    assert (first["SERVER_NAME"], first["SERVER_PORT"]) == ("198.51.100.20", "443")
    busy = server.connect()
    busy.sendall(b"PROXY TCP4 192.0.2.77 198.51.100.20 40009 443\r\n"
                 b"GET /?ms=1000 HTTP/1.1\r\nHost: a\r\n\r\n")

    def busy_in_app():                  # the worker runs the slow request
        workers = json.loads(admin_get(server, "/status")[1])["workers"]
        return workers and (workers[0]["request"] or "").startswith("GET /?ms=1000")
    wait_until(busy_in_app, 10, lambda: admin_get(server, "/status")[1], period=0.01)
    env = get_json(idle_conn, "/again")        # arrives while the worker is busy
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"], env["PATH_INFO"]) == (
        "203.0.113.9", "40001", "/again")
    assert {k: env[k] for k in ("SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme")} == {
        k: first[k] for k in ("SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme")}
    busy.close()


@pytest.mark.parametrize("header, dest", [(V1, ("198.51.100.20", "443")),
                                          (v2_ipv6(), ("2001:db8::20", "8443"))])
def test_a_retiring_worker_passes_on_the_addresses_from_the_proxy_header(serve, header,
                                                                         dest):
    """HUP retires the only worker: its idle keep-alive connection moves to the
    new worker (descriptor and unread bytes through the hand-off pair), and
    there the app sees the client and server addresses the PROXY header gave."""
    server = serve("--proxy-protocol")                               # one worker
    sock = server.connect()
    sock.sendall(header)
    conn = connection_over(sock)
    first = get_json(conn, "/")
    assert (first["SERVER_NAME"], first["SERVER_PORT"]) == dest
    mark = len(server.log())
    server.proc.popen.send_signal(signal.SIGHUP)
    server.proc.wait_for_log(r"Reload complete", after=mark)
    moved = get_json(conn, "/after")
    assert moved["pid"] != first["pid"]          # served by the new worker
    shown = ("REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme")
    assert {k: moved[k] for k in shown} == {k: first[k] for k in shown}
