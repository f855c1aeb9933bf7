"""Unit tests for appserver.wsgi.environ: the PEP 3333 environ of a request.

Requests come from the real ``RequestParser``. Covers the per-listener base
keys (TCP and unix), the required CGI and ``wsgi.*`` keys and their types,
PATH_INFO percent-decoding to latin-1, QUERY_STRING/RAW_URI untouched, header
keys (HTTP_*, CONTENT_TYPE/CONTENT_LENGTH, joining of repeats, Cookie with
``;``), headers with ``_`` never reaching the app, SERVER_NAME/PORT from the
listener (on a unix socket SERVER_PORT from Host or an absolute-form target),
chunked requests without CONTENT_LENGTH, REMOTE_ADDR/PORT, that the base dict
is not mutated, and the key cache bound; and, over generated requests, that
the HTTP_ keys are the header names sent.
"""
import io
import sys
from types import SimpleNamespace

import pytest
from hypothesis import given, settings

from appserver import SERVER_SOFTWARE
from appserver.http.parser import RequestParser
from appserver.observe.observer import RequestObserver
from appserver.wsgi.proxy import Rewriter
from appserver.net.sockets import Listener
from appserver.wsgi import environ as env_mod
from appserver.wsgi.environ import base_environ, build_environ, decode_path, header_key
from appserver.wsgi.response import FileWrapper, Response
from tests.http.http_strategies import environ_requests, sent_http_keys

TCP = Listener(None, "tcp", ("127.0.0.1", 8000))
UNIX = Listener(None, "unix", "/run/app.sock")


def parse(raw):
    parser = RequestParser()
    parser.feed(raw)
    return parser.next_event()


def build(raw, listener=TCP, peer=("192.0.2.7", 54321), wsgi_input=None):
    base = base_environ(listener, True)
    return build_environ(base, parse(raw), peer,
                         io.BytesIO() if wsgi_input is None else wsgi_input)


def get(target=b"/", headers=b"Host: example.com\r\n", version=b"HTTP/1.1", method=b"GET"):
    return b"%s %s %s\r\n%s\r\n" % (method, target, version, headers)


# -- base ----------------------------------------------------------------------

def test_base_environ_tcp():
    base = base_environ(TCP, True)
    assert base["wsgi.version"] == (1, 0)
    assert base["wsgi.url_scheme"] == "http"
    assert base["wsgi.errors"] is sys.stderr
    assert base["wsgi.multithread"] is False
    assert base["wsgi.multiprocess"] is True
    assert base["wsgi.run_once"] is False
    assert base["wsgi.input_terminated"] is True
    assert base["wsgi.file_wrapper"] is FileWrapper
    assert base["SERVER_SOFTWARE"] == SERVER_SOFTWARE
    assert base["SCRIPT_NAME"] == ""
    assert base["SERVER_NAME"] == "127.0.0.1"
    assert base["SERVER_PORT"] == "8000"
    assert base_environ(TCP, False)["wsgi.multiprocess"] is False


def test_base_environ_unix():
    base = base_environ(UNIX, True)
    assert base["SERVER_NAME"] == "localhost"


# -- request keys --------------------------------------------------------------

REQUIRED = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
            "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL")


def test_required_keys_present_and_native_strings():
    env = build(get(b"/a/b?x=1&y=2"))
    for key in REQUIRED:
        assert type(env[key]) is str, key
    for key, value in env.items():
        if key.isupper():
            assert type(value) is str, key
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/a/b"
    assert env["QUERY_STRING"] == "x=1&y=2"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["RAW_URI"] == env["REQUEST_URI"] == "/a/b?x=1&y=2"
    assert env["SCRIPT_NAME"] == ""


def test_wsgi_input_is_the_given_stream():
    stream = io.BytesIO(b"body")
    env = build(get(), wsgi_input=stream)
    assert env["wsgi.input"] is stream


def test_base_is_not_mutated():
    base = base_environ(TCP, True)
    snapshot = dict(base)
    env = build_environ(base, parse(get(headers=b"Host: other:9\r\nX-A: 1\r\n")),
                        ("1.2.3.4", 5), io.BytesIO())
    assert base == snapshot
    assert env is not base


def test_empty_query_string():
    env = build(get(b"/path"))
    assert env["QUERY_STRING"] == ""
    env = build(get(b"/path?"))
    assert env["PATH_INFO"] == "/path" and env["QUERY_STRING"] == ""


@pytest.mark.parametrize("target,path_info", [
    (b"/plain", "/plain"),
    (b"/caf%C3%A9", "/caf\xc3\xa9"),         # UTF-8 bytes, each read as latin-1
    (b"/a%2Fb", "/a/b"),                      # decoded: PEP 3333 gives no way to tell
    (b"/a+b", "/a+b"),                        # '+' is not a space in a path
    (b"/%zz", "/%zz"),                        # not an escape: kept as is
    (b"/%25", "/%"),
])
def test_path_info_percent_decoded_to_latin1(target, path_info):
    env = build(get(target + b"?q=%41+b"))
    assert env["PATH_INFO"] == path_info
    assert env["QUERY_STRING"] == "q=%41+b"   # never decoded
    assert env["RAW_URI"] == (target + b"?q=%41+b").decode()


def test_decode_path_without_escapes_is_identity():
    path = "/no/escapes/here"
    assert decode_path(path) is path


def test_method_and_version_passed_through():
    env = build(get(method=b"PATCH", version=b"HTTP/1.0", headers=b""))
    assert env["REQUEST_METHOD"] == "PATCH"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_asterisk_form():
    env = build(get(b"*", method=b"OPTIONS"))
    assert env["PATH_INFO"] == "*" and env["QUERY_STRING"] == ""


# -- headers -------------------------------------------------------------------

def test_headers_become_http_keys():
    env = build(get(headers=b"Host: example.com\r\nX-Request-Id: abc\r\n"
                            b"Accept-Encoding: gzip\r\nuser-agent: t/1\r\n"))
    assert env["HTTP_HOST"] == "example.com"
    assert env["HTTP_X_REQUEST_ID"] == "abc"
    assert env["HTTP_ACCEPT_ENCODING"] == "gzip"
    assert env["HTTP_USER_AGENT"] == "t/1"


def test_content_type_and_length_have_no_http_prefix():
    env = build(get(method=b"POST", headers=b"Host: h\r\nContent-Type: text/plain\r\n"
                                            b"Content-Length: 0\r\n"))
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "0"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


def test_no_content_keys_without_those_headers():
    env = build(get())
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] == ""
    assert "CONTENT_TYPE" not in env or env["CONTENT_TYPE"] == ""


def test_repeated_headers_are_joined_with_commas():
    env = build(get(headers=b"Host: h\r\nAccept: a/b\r\nX-Forwarded-For: 1.1.1.1\r\n"
                            b"Accept: c/d\r\nX-Forwarded-For: 2.2.2.2\r\n"))
    assert env["HTTP_ACCEPT"] == "a/b,c/d"
    assert env["HTTP_X_FORWARDED_FOR"] == "1.1.1.1,2.2.2.2"


def test_repeated_cookie_headers_are_joined_with_semicolons():
    env = build(get(headers=b"Host: h\r\nCookie: a=1\r\nCookie: b=2; c=3\r\n"))
    assert env["HTTP_COOKIE"] == "a=1; b=2; c=3"


def test_header_with_underscore_never_reaches_the_app():
    # X_Forwarded_For would otherwise collide with X-Forwarded-For
    env = build(get(headers=b"Host: h\r\nX_Forwarded_For: 6.6.6.6\r\n"
                            b"X-Forwarded-For: 1.1.1.1\r\n"))
    assert env["HTTP_X_FORWARDED_FOR"] == "1.1.1.1"


def test_header_names_cannot_overwrite_server_keys():
    env = build(get(headers=b"Host: h\r\nScript-Name: /evil\r\nPath-Info: /evil\r\n"))
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/"
    assert env["HTTP_SCRIPT_NAME"] == "/evil"


def test_header_values_keep_inner_spaces_and_latin1():
    env = build(get(headers=b"Host: h\r\nX-Name:  Jos\xe9  M \r\n"))
    assert env["HTTP_X_NAME"] == "Jos\xe9  M"


def test_header_key_mapping_and_cache_bound(monkeypatch):
    monkeypatch.setattr(env_mod, "_KEY_CACHE", {})
    assert header_key("content-type") == "CONTENT_TYPE"
    assert header_key("Content-Length") == "CONTENT_LENGTH"
    assert header_key("x-a-b") == "HTTP_X_A_B"
    for i in range(1500):
        assert header_key("X-Name-%d" % i) == "HTTP_X_NAME_%d" % i
    assert len(env_mod._KEY_CACHE) <= 1000


# -- host, server name and port ------------------------------------------------

HOSTS = [
    (b"example.com", "example.com", "80"),
    (b"example.com:8080", "example.com", "8080"),
    (b"example.com:", "example.com", "80"),
    (b"10.0.0.1:81", "10.0.0.1", "81"),
    (b"[::1]", "[::1]", "80"),
    (b"[::1]:8443", "[::1]", "8443"),
]


@pytest.mark.parametrize("host", [h for h, _, _ in HOSTS])
def test_server_name_and_port_are_the_listeners_whatever_host_says(host):
    env = build(get(headers=b"Host: " + host + b"\r\n"))
    assert env["HTTP_HOST"] == host.decode()
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", "8000")


@pytest.mark.parametrize("host,name,port", HOSTS)
def test_on_a_unix_socket_server_port_follows_host(host, name, port):
    env = build(get(headers=b"Host: " + host + b"\r\n"), listener=UNIX, peer="")
    assert env["HTTP_HOST"] == host.decode()
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", port)


def test_absolute_form_target_wins_over_host_header():
    env = build(get(b"http://origin.example:8081/p/q?x=1",
                    headers=b"Host: ignored.example\r\n"))
    assert env["HTTP_HOST"] == "origin.example:8081"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert env["PATH_INFO"] == "/p/q"
    assert env["QUERY_STRING"] == "x=1"
    assert env["RAW_URI"] == "http://origin.example:8081/p/q?x=1"
    env = build(get(b"http://origin.example:8081/", headers=b"Host: x\r\n"),
                listener=UNIX, peer="")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "8081")


def test_http10_without_host_uses_the_listener_address():
    env = build(get(version=b"HTTP/1.0", headers=b""))
    assert "HTTP_HOST" not in env
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == "8000"


def test_unix_listener_with_host():
    env = build(get(headers=b"Host: app.internal\r\n"), listener=UNIX, peer="")
    assert env["SERVER_NAME"] == "localhost"
    assert env["SERVER_PORT"] == "80"


def test_unix_listener_without_host_has_a_server_port():
    # PEP 3333: SERVER_NAME and SERVER_PORT can never be empty strings
    env = build(get(version=b"HTTP/1.0", headers=b""), listener=UNIX, peer="")
    assert env["SERVER_NAME"] != ""
    assert env["SERVER_PORT"] != ""


# -- body framing and peer -----------------------------------------------------

def test_chunked_request_has_no_content_length():
    env = build(get(method=b"POST",
                    headers=b"Host: h\r\nTransfer-Encoding: chunked\r\n"))
    assert "CONTENT_LENGTH" not in env
    assert env["HTTP_TRANSFER_ENCODING"] == "chunked"


def test_remote_addr_and_port_from_tcp_peer():
    env = build(get(), peer=("192.0.2.7", 54321))
    assert env["REMOTE_ADDR"] == "192.0.2.7"
    assert env["REMOTE_PORT"] == "54321"


def test_unix_peer_has_empty_remote_addr_and_no_port():
    env = build(get(), listener=UNIX, peer="")
    assert env["REMOTE_ADDR"] == ""
    assert "REMOTE_PORT" not in env


# -- property: HTTP_ keys are the headers sent ----------------------------------

@settings(max_examples=300, deadline=None)
@given(environ_requests())
def test_http_keys_are_exactly_the_header_names_sent(request_and_names):
    """Parser, environ, proxy rules (an untrusted peer) and the request
    observer together: the app's HTTP_ keys are the names the client sent."""
    data, names = request_and_names
    cfg = SimpleNamespace(forwarded_allow_ips="", forwarded_headers="x-forwarded",
                          script_name="", request_id_header="X-Request-ID", hooks={})
    observer = RequestObserver(cfg, SimpleNamespace(enabled=False), None)
    request = parse(data)
    environ = build_environ(base_environ(TCP, True), request, ("192.0.2.7", 1), io.BytesIO())
    Rewriter(cfg).rewrite(environ)
    observer.started(request, environ, Response(None, request.version, request.method, True))
    assert {k for k in environ if k.startswith("HTTP_")} == sent_http_keys(names)
    assert environ["appserver.request_id"]
