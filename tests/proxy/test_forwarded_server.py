"""Forwarded headers and SCRIPT_NAME over a real server: a trusted proxy sets
the client, scheme, host and prefix; any other peer can set none of them."""
import re

import pytest

from tests.harness.process import APPSERVER, Proc, wait_until

from .conftest import get_json, http_connection, proxy_env, request

pytestmark = pytest.mark.timeout(60)

SPOOF = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https",
         "X-Forwarded-Host": "www.example.com", "X-Forwarded-Prefix": "/shop",
         "Forwarded": "for=198.51.100.1"}


def test_trusted_loopback_proxy_sets_client_scheme_host_and_access_log(serve):
    server = serve("--access-logfile", "-", "--forwarded-host")
    env = get_json(http_connection(server), "/x", SPOOF)
    assert env["REMOTE_ADDR"] == "203.0.113.5" and "REMOTE_PORT" not in env
    assert env["wsgi.url_scheme"] == "https"
    assert (env["HTTP_HOST"], env["SERVER_NAME"], env["SERVER_PORT"]) == (
        "www.example.com", "www.example.com", "443")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/shop", "/x")
    assert "HTTP_FORWARDED" not in env["headers"]       # not the configured kind
    wait_until(lambda: re.search(r"203\.0\.113\.5 .*GET /x", server.stdout()), 10,
               server.stdout)                   # the access log is stdout


def test_trusted_proxy_host_is_ignored_by_default(serve):
    server = serve()
    env = get_json(http_connection(server), "/x", SPOOF)
    assert env["REMOTE_ADDR"] == "203.0.113.5" and env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"].startswith("127.0.0.1:")
    assert "warning" not in server.log().lower()


def test_star_allows_any_client_and_says_so_at_start(serve):
    server = serve("--forwarded-allow-ips", "*")
    server.wait_for_log(r"\[WARNING\] forwarded-allow-ips is '\*': any client "
                        r"that reaches this server can set REMOTE_ADDR "
                        r"\(X-Forwarded-For\), wsgi.url_scheme")
    env = get_json(http_connection(server), "/x", SPOOF)
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"].startswith("127.0.0.1:")     # Gunicorn's behaviour


def test_pep3333_url_is_rebuilt_from_the_proxy_headers(serve):
    server = serve("--forwarded-host")
    response, _ = request(http_connection(server), "GET", "/redirect", headers=SPOOF)
    assert response.getheader("Location") == "https://www.example.com/shop/next"


def test_untrusted_peer_cannot_spoof_and_does_not_see_the_headers(serve):
    server = serve("--forwarded-allow-ips", "10.0.0.1")
    env = get_json(http_connection(server), "/x", SPOOF)
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REMOTE_PORT"].isdigit()
    assert env["wsgi.url_scheme"] == "http" and env["HTTP_HOST"].startswith("127.0.0.1:")
    assert env["SCRIPT_NAME"] == "" and env["headers"] == []


def test_unix_socket_peer_is_trusted(serve, sock_dir):
    path = sock_dir / "s.sock"
    server = serve("--forwarded-allow-ips", "10.0.0.1", bind="unix:%s" % path)
    env = get_json(http_connection(server), "/", {"X-Forwarded-For": "203.0.113.5",
                                                   "X-Forwarded-Proto": "https"})
    assert env["REMOTE_ADDR"] == "203.0.113.5" and env["wsgi.url_scheme"] == "https"


def test_forwarded_kind_from_a_trusted_proxy(serve):
    server = serve("--forwarded-headers", "forwarded", "--forwarded-host")
    env = get_json(http_connection(server), "/", {
        "Forwarded": 'for="[2001:db8::7]:4711";proto=https;host=shop.example',
        "X-Forwarded-For": "6.6.6.6"})
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("2001:db8::7", "4711")
    assert env["wsgi.url_scheme"] == "https" and env["HTTP_HOST"] == "shop.example"
    assert env["headers"] == ["HTTP_FORWARDED"]


def test_gunicorns_scheme_headers_from_a_trusted_proxy(serve):
    server = serve("--forwarded-allow-ips", "127.0.0.1")
    env = get_json(http_connection(server), "/", {"X-Forwarded-Ssl": "on"})
    assert env["wsgi.url_scheme"] == "https"
    response, body = request(http_connection(server), "GET", "/", headers={
        "X-Forwarded-Ssl": "on", "X-Forwarded-Proto": "http"})
    assert response.status == 400 and b"contradictory scheme headers" in body
    untrusted = serve("--forwarded-allow-ips", "10.0.0.1")
    env = get_json(http_connection(untrusted), "/", {"X-Forwarded-Ssl": "on"})
    assert env["wsgi.url_scheme"] == "http" and env["headers"] == []


def test_secure_scheme_headers_on_the_command_line(serve):
    server = serve("--secure-scheme-headers", "X-Is-Secure=yes")
    env = get_json(http_connection(server), "/", {"X-Is-Secure": "yes",
                                                   "X-Forwarded-Proto": "http"})
    assert env["wsgi.url_scheme"] == "https"


def test_script_name_setting_and_404_outside_it(serve):
    server = serve("--script-name", "/app")
    conn = http_connection(server)
    env = get_json(conn, "/app/users/1")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/users/1")
    response, body = request(http_connection(server), "GET", "/elsewhere")
    assert response.status == 404 and b"outside the script name" in body


def test_bad_allow_list_is_a_config_error():
    proc = Proc(APPSERVER + ["proxyapp", "--forwarded-allow-ips", "10.0.0.0/40"],
                env=proxy_env()).start()
    try:
        assert proc.wait_exit() == 2
        assert "forwarded-allow-ips: expected comma-separated IP addresses" in proc.log()
    finally:
        proc.stop()
