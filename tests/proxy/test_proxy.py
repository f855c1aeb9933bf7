"""proxy.py: trust, X-Forwarded-*, RFC 7239 Forwarded and SCRIPT_NAME on plain
environ dicts (no sockets)."""

from types import SimpleNamespace

import pytest

from appserver.config import loading
from appserver.wsgi import proxy
from appserver.http.errors import BadRequest, HTTPError
from appserver.http.parser import RequestParser
from appserver.net.sockets import Listener
from appserver.wsgi.environ import base_environ, build_environ

GUNICORN_SCHEMES = {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https",
                    "X-FORWARDED-SSL": "on"}


def cfg(allow="127.0.0.1,::1", headers="x-forwarded", script_name=None, host=True,
        schemes=GUNICORN_SCHEMES):
    return SimpleNamespace(forwarded_allow_ips=allow, forwarded_headers=headers,
                           script_name=script_name, forwarded_host=host,
                           secure_scheme_headers=schemes)


def environ(peer="127.0.0.1", path="/", host="internal:8000", **headers):
    env = {"REMOTE_ADDR": peer, "REMOTE_PORT": "50000", "wsgi.url_scheme": "http",
           "SERVER_NAME": "internal", "SERVER_PORT": "8000", "SCRIPT_NAME": "",
           "PATH_INFO": path}
    if host:
        env["HTTP_HOST"] = host
    env.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    return env


def rewrite(env, **kw):
    proxy.Rewriter(cfg(**kw))(env)
    return env


# -- the allow list ------------------------------------------------------------

@pytest.mark.parametrize("text, host, expected", [
    ("127.0.0.1,::1", "127.0.0.1", True),
    ("127.0.0.1,::1", "::1", True),
    ("127.0.0.1,::1", "127.0.0.2", False),
    ("10.0.0.0/8", "10.200.3.4", True),
    ("10.0.0.0/8", "11.0.0.1", False),
    ("10.0.0.0/8", "::ffff:10.1.2.3", True),       # IPv4-mapped IPv6 peer
    ("2001:db8::/32", "2001:db8:1::5", True),
    ("*", "203.0.113.9", True),
    ("", "127.0.0.1", False),
    ("127.0.0.1", "", True),                          # a unix-socket peer
    ("127.0.0.1", "not-an-ip", False),
])
def test_allow_list(text, host, expected):
    allow = proxy.AllowList(text)
    assert (host in allow) is expected
    assert (host in allow) is expected                # cached answer agrees


def test_allow_list_rejects_garbage():
    with pytest.raises(ValueError):
        proxy.AllowList("10.0.0.0/33")


# -- untrusted peers -----------------------------------------------------------

def test_untrusted_peer_headers_are_removed_and_nothing_applied():
    env = rewrite(environ(peer="203.0.113.7", x_forwarded_for="1.2.3.4",
                          x_forwarded_proto="https", x_forwarded_host="evil.example",
                          x_forwarded_port="443", forwarded="for=1.2.3.4",
                          x_forwarded_prefix="/evil", x_script_name="/evil"))
    assert env["REMOTE_ADDR"] == "203.0.113.7" and env["REMOTE_PORT"] == "50000"
    assert env["wsgi.url_scheme"] == "http" and env["HTTP_HOST"] == "internal:8000"
    assert env["SCRIPT_NAME"] == "" and env["PATH_INFO"] == "/"
    assert not [k for k in env if "FORWARDED" in k or "SCRIPT_NAME" in k[5:]]


def test_no_forwarding_header_leaves_the_environ_alone():
    env = environ()
    before = dict(env)
    rewrite(env)
    assert env == before


# -- X-Forwarded-For ------------------------------------------------------------

@pytest.mark.parametrize("xff, allow, client", [
    ("203.0.113.5", "127.0.0.1", "203.0.113.5"),
    # the rightmost hop that is not a trusted proxy is the client
    ("6.6.6.6, 203.0.113.5", "127.0.0.1", "203.0.113.5"),
    ("6.6.6.6, 203.0.113.5, 10.0.0.2", "127.0.0.1,10.0.0.0/8", "203.0.113.5"),
    # every hop trusted: the first one
    ("10.0.0.9, 10.0.0.2", "127.0.0.1,10.0.0.0/8", "10.0.0.9"),
    ("2001:db8::17", "127.0.0.1", "2001:db8::17"),
    ("[2001:db8::17]:4711", "127.0.0.1", "2001:db8::17"),
    ("203.0.113.5:1234", "127.0.0.1", "203.0.113.5"),
    ("unknown", "127.0.0.1", "unknown"),
    ("_hidden, 10.0.0.2", "127.0.0.1,10.0.0.0/8", "_hidden"),
])
def test_x_forwarded_for_picks_the_client(xff, allow, client):
    env = rewrite(environ(x_forwarded_for=xff), allow=allow)
    assert env["REMOTE_ADDR"] == client


def test_x_forwarded_for_port_sets_remote_port_else_removes_it():
    assert rewrite(environ(x_forwarded_for="[2001:db8::17]:4711"))["REMOTE_PORT"] == "4711"
    assert "REMOTE_PORT" not in rewrite(environ(x_forwarded_for="203.0.113.5"))


@pytest.mark.parametrize("xff", ["garbage", "1.2.3.4, not an ip", "300.1.1.1", "1.2.3.4,",
                                 "[::1", "1.2.3.4:http"])
def test_malformed_x_forwarded_for_is_ignored(xff):
    env = rewrite(environ(x_forwarded_for=xff))
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REMOTE_PORT"] == "50000"


def test_a_malformed_hop_left_of_the_client_does_not_matter():
    env = rewrite(environ(x_forwarded_for="garbage, 203.0.113.5"))
    assert env["REMOTE_ADDR"] == "203.0.113.5"


# -- X-Forwarded-Proto, -Host, -Port ----------------------------------------------

def test_proto_host_and_port():
    env = rewrite(environ(x_forwarded_proto="https", x_forwarded_host="www.example.com"))
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "www.example.com"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("www.example.com", "443")


def test_host_and_port_are_not_applied_without_forwarded_host():
    env = rewrite(environ(x_forwarded_proto="https", x_forwarded_host="evil.example",
                          x_forwarded_port="8443"), host=False)
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "internal:8443" and env["SERVER_NAME"] == "internal"
    assert env["HTTP_X_FORWARDED_HOST"] == "evil.example"     # the app sees it
    env = rewrite(environ(forwarded="for=203.0.113.5;proto=https;host=evil.example"),
                  headers="forwarded", host=False)
    assert env["REMOTE_ADDR"] == "203.0.113.5" and env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "internal:8000"


def test_forwarded_host_is_off_by_default():
    from appserver.config import settings
    assert settings.BY_NAME["forwarded-host"].default is False
    env = environ(x_forwarded_host="evil.example")
    proxy.Rewriter(SimpleNamespace(forwarded_allow_ips="127.0.0.1",
                                   forwarded_headers="x-forwarded", script_name=None,
                                   forwarded_host=False))(env)
    assert env["HTTP_HOST"] == "internal:8000"


@pytest.mark.parametrize("headers, host, named", [
    ("x-forwarded", False, "REMOTE_ADDR (X-Forwarded-For), wsgi.url_scheme "
                           "(X-Forwarded-Protocol, X-Forwarded-Proto, "
                           "X-Forwarded-Ssl), SERVER_PORT and the port of "
                           "HTTP_HOST (X-Forwarded-Port), SCRIPT_NAME"),
    ("x-forwarded", True, "(X-Forwarded-Port), HTTP_HOST (X-Forwarded-Host), "
                          "SCRIPT_NAME"),
    ("forwarded", True, "REMOTE_ADDR (Forwarded for=), wsgi.url_scheme (Forwarded "
                        "proto=), HTTP_HOST (Forwarded host=), SCRIPT_NAME"),
])
def test_star_warns_naming_what_any_client_can_set(headers, host, named):
    warning = loading.open_to_all(cfg(allow="*", headers=headers, host=host))
    assert warning.startswith("forwarded-allow-ips is '*': any client that reaches "
                              "this server can set ")
    assert named in warning
    assert (", HTTP_HOST (" in warning) is host
    assert loading.open_to_all(cfg(allow="10.0.0.0/8")) is None


def test_proto_alone_fixes_the_default_port_of_the_host():
    env = rewrite(environ(host="www.example.com", x_forwarded_proto="https"))
    assert env["wsgi.url_scheme"] == "https" and env["SERVER_PORT"] == "443"


def test_forwarded_port_wins_and_goes_into_http_host():
    env = rewrite(environ(x_forwarded_proto="https", x_forwarded_host="example.com:9000",
                          x_forwarded_port="8443"))
    assert env["SERVER_PORT"] == "8443" and env["HTTP_HOST"] == "example.com:8443"
    env = rewrite(environ(x_forwarded_proto="https", x_forwarded_host="example.com:9000",
                          x_forwarded_port="443"))
    assert env["SERVER_PORT"] == "443" and env["HTTP_HOST"] == "example.com"


def test_rightmost_value_of_host_and_port_is_used():
    env = rewrite(environ(x_forwarded_proto="https, https", x_forwarded_host="a.example, b.example",
                          x_forwarded_port="8443, 9443"))
    assert env["wsgi.url_scheme"] == "https" and env["HTTP_HOST"] == "b.example:9443"


@pytest.mark.parametrize("name, value", [
    ("x_forwarded_proto", "ftp"), ("x_forwarded_host", "bad host"),
    ("x_forwarded_host", "a/b"), ("x_forwarded_port", "70000"), ("x_forwarded_port", "x"),
])
def test_invalid_values_are_ignored(name, value):
    env = rewrite(environ(**{name: value}))
    assert env["wsgi.url_scheme"] == "http" and env["HTTP_HOST"] == "internal:8000"
    assert env["SERVER_PORT"] == "8000"


def test_x_forwarded_mode_removes_forwarded_from_a_trusted_proxy():
    env = rewrite(environ(forwarded="for=6.6.6.6;proto=https", x_forwarded_for="203.0.113.5"))
    assert env["REMOTE_ADDR"] == "203.0.113.5" and env["wsgi.url_scheme"] == "http"
    assert "HTTP_FORWARDED" not in env
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.5"     # what the proxy vouched for


# -- RFC 7239 Forwarded -----------------------------------------------------------

def fwd(value, allow="127.0.0.1,::1", **kw):
    return rewrite(environ(forwarded=value, **kw), allow=allow, headers="forwarded")


def test_forwarded_rfc7239_examples():
    # RFC 7239 section 4 and 7.1
    env = fwd('for="_gazonk"')
    assert env["REMOTE_ADDR"] == "_gazonk" and "REMOTE_PORT" not in env
    env = fwd('For="[2001:db8:cafe::17]:4711"')
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("2001:db8:cafe::17", "4711")
    env = fwd("for=192.0.2.60;proto=http;by=203.0.113.43")
    assert env["REMOTE_ADDR"] == "192.0.2.60" and env["wsgi.url_scheme"] == "http"
    env = fwd("for=192.0.2.43, for=198.51.100.17")
    assert env["REMOTE_ADDR"] == "198.51.100.17"


def test_forwarded_walks_past_trusted_hops_and_takes_that_elements_proto_and_host():
    env = fwd('for=198.51.100.17;proto=https;host="shop.example:8443", '
              'for=10.0.0.2;proto=http;host=inner', allow="127.0.0.1,10.0.0.0/8")
    assert env["REMOTE_ADDR"] == "198.51.100.17"
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "shop.example:8443" and env["SERVER_PORT"] == "8443"


def test_forwarded_quoted_strings_and_escapes():
    env = fwd('for="192.0.2.1:8080";host="a\\.example"')
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("192.0.2.1", "8080")
    assert env["HTTP_HOST"] == "a.example"


def test_forwarded_unquoted_ipv6_and_port_are_tolerated():
    env = fwd("for=[2001:db8::1]:80;proto=https")
    assert env["REMOTE_ADDR"] == "2001:db8::1" and env["wsgi.url_scheme"] == "https"


def test_forwarded_element_without_for_only_sets_proto():
    env = fwd("proto=https")
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["wsgi.url_scheme"] == "https"


def test_forwarded_obfuscated_port():
    env = fwd('for="_node:_port"')
    assert env["REMOTE_ADDR"] == "_node" and "REMOTE_PORT" not in env


@pytest.mark.parametrize("value", ['for="192.0.2.1', "for", "for=1.2.3.4;for=5.6.7.8",
                                   "for=1.2.3.4 x", "=x", "for=1.2.3.4,,for=5.6.7.8",
                                   "for=999.1.1.1;proto=https"])
def test_malformed_forwarded_is_ignored(value):
    env = fwd(value)
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["wsgi.url_scheme"] == "http"


def test_forwarded_mode_removes_x_forwarded_headers():
    env = fwd("for=203.0.113.5", x_forwarded_for="6.6.6.6", x_forwarded_proto="https")
    assert env["REMOTE_ADDR"] == "203.0.113.5" and env["wsgi.url_scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in env and "HTTP_X_FORWARDED_PROTO" not in env


def test_parse_forwarded():
    assert proxy.parse_forwarded('for=a;Proto=https, for="b,c"') == [
        {"for": "a", "proto": "https"}, {"for": "b,c"}]
    assert proxy.parse_forwarded("for=a;for=b") is None


# -- SCRIPT_NAME -------------------------------------------------------------------

def test_script_name_setting_moves_the_prefix():
    env = rewrite(environ(path="/app/users/1"), script_name="/app/")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/users/1")
    env = rewrite(environ(path="/app"), script_name="app")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "")


@pytest.mark.parametrize("path", ["/", "/application", "/other/app"])
def test_path_outside_the_script_name_is_404(path):
    with pytest.raises(HTTPError) as info:
        rewrite(environ(path=path), script_name="/app")
    assert info.value.status == 404


def test_script_name_applies_to_untrusted_peers_too():
    env = rewrite(environ(peer="203.0.113.7", path="/app/x", x_script_name="/evil"),
                  script_name="/app")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/x")


def test_x_forwarded_prefix_means_the_proxy_removed_it():
    env = rewrite(environ(path="/users/1", x_forwarded_prefix="/app/"))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/users/1")


def test_x_script_name_means_the_path_still_has_it_and_overrides_the_setting():
    env = rewrite(environ(path="/v2/users", x_script_name="/v2"), script_name="/app")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/v2", "/users")
    with pytest.raises(HTTPError):
        rewrite(environ(path="/users", x_script_name="/v2"))


@pytest.mark.parametrize("value", ["app", "/a b", "/x?y"])
def test_invalid_prefix_headers_are_ignored(value):
    env = rewrite(environ(path="/users", x_forwarded_prefix=value))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/users")


def test_asterisk_path_is_left_alone():
    env = rewrite(environ(path="*"), script_name="/app")
    assert env["PATH_INFO"] == "*" and env["SCRIPT_NAME"] == ""


# -- secure-scheme-headers (Gunicorn's) ------------------------------------------

@pytest.mark.parametrize("headers, scheme", [
    ({"x_forwarded_ssl": "on"}, "https"),
    ({"x_forwarded_protocol": "ssl"}, "https"),
    ({"x_forwarded_proto": "https"}, "https"),
    ({"x_forwarded_ssl": "off"}, "http"),
    ({"x_forwarded_proto": "HTTPS"}, "http"),             # values are exact
    ({"x_forwarded_ssl": "on", "x_forwarded_proto": "https"}, "https"),
    ({"x_forwarded_proto": "https, https"}, "https"),     # two lines, joined
    ({}, "http"),
])
def test_each_of_gunicorns_scheme_headers_sets_the_scheme(headers, scheme):
    env = rewrite(environ(host="www.example.com", **headers))
    assert env["wsgi.url_scheme"] == scheme
    assert env["SERVER_PORT"] == ("443" if scheme == "https" else
                                  "80" if headers else "8000")


def test_a_trusted_proxy_saying_http_wins_over_a_tls_listener():
    env = environ(x_forwarded_ssl="off")
    env["wsgi.url_scheme"] = "https"
    assert rewrite(env)["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize("headers", [
    {"x_forwarded_ssl": "on", "x_forwarded_proto": "http"},
    {"x_forwarded_protocol": "ssl", "x_forwarded_ssl": "off"},
    {"x_forwarded_proto": "http,https"},                  # two lines that disagree
])
def test_scheme_headers_that_disagree_are_a_bad_request(headers):
    with pytest.raises(BadRequest, match="contradictory scheme headers"):
        rewrite(environ(**headers))


def test_scheme_headers_of_an_untrusted_peer_are_removed_and_not_read():
    env = rewrite(environ(peer="192.0.2.9", x_forwarded_ssl="on", x_forwarded_protocol="ssl",
                          x_forwarded_proto="http"))
    assert env["wsgi.url_scheme"] == "http"
    assert not [key for key in env if key.startswith("HTTP_X_FORWARDED")]


def test_a_configured_table_replaces_gunicorns():
    schemes = {"x-is-secure": "yes"}
    env = rewrite(environ(x_is_secure="yes", x_forwarded_proto="http"), schemes=schemes)
    assert env["wsgi.url_scheme"] == "https"              # X-Forwarded-Proto not read
    env = rewrite(environ(peer="192.0.2.9", x_is_secure="yes"), schemes=schemes)
    assert env["wsgi.url_scheme"] == "http" and "HTTP_X_IS_SECURE" not in env
    env = rewrite(environ(x_forwarded_ssl="on", x_forwarded_proto="https"), schemes={})
    assert env["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize("present", ["X_A", "X_B", "X_C", "X_D"])
def test_every_header_of_a_longer_table_is_read_and_removed(present):
    schemes = {"X-A": "1", "X-B": "1", "X-C": "1", "X-D": "1"}
    env = rewrite(environ(**{present.lower(): "1"}), schemes=schemes)
    assert env["wsgi.url_scheme"] == "https"
    env = rewrite(environ(peer="192.0.2.9", **{present.lower(): "1"}), schemes=schemes)
    assert env["wsgi.url_scheme"] == "http" and "HTTP_" + present not in env


def test_forwarded_kind_reads_proto_and_removes_the_scheme_headers():
    env = rewrite(environ(forwarded="for=203.0.113.5;proto=https", x_forwarded_ssl="off"),
                  headers="forwarded")
    assert env["wsgi.url_scheme"] == "https" and "HTTP_X_FORWARDED_SSL" not in env


# Gunicorn as the oracle: the same request lines through its parser and
# through appserver's parser, environ and rewriter. Gunicorn reads a comma in
# one line as part of one value; appserver (RFC 9110 5.3) as repeated lines,
# so the cases below put each value on its own line.
ORACLE_LINES = [
    [], ["X-Forwarded-Proto: https"], ["X-Forwarded-Proto: http"],
    ["X-Forwarded-Proto: HTTPS"], ["X-Forwarded-Proto: wss"], ["X-Forwarded-Ssl: on"],
    ["X-Forwarded-Ssl: On"], ["X-Forwarded-Ssl: off"], ["X-Forwarded-Protocol: ssl"],
    ["x-forwarded-ssl:   on  "], ["X-Forwarded-Ssl:"],
    ["X-Forwarded-Ssl: on", "X-Forwarded-Proto: https"],
    ["X-Forwarded-Ssl: on", "X-Forwarded-Proto: http"],
    ["X-Forwarded-Protocol: ssl", "X-Forwarded-Ssl: off"],
    ["X-Forwarded-Proto: https", "X-Forwarded-Proto: https"],
    ["X-Forwarded-Proto: https", "X-Forwarded-Proto: http"],
    ["X-Forwarded-Proto: http", "X-Forwarded-Ssl: off", "X-Forwarded-Protocol: tls"],
]


def gunicorn_scheme(raw, peer, tls, schemes):
    from gunicorn.config import Config
    from gunicorn.http.errors import InvalidSchemeHeaders
    from gunicorn.http.message import Request
    from gunicorn.http.unreader import IterUnreader
    config = Config()
    config.set("forwarded_allow_ips", "127.0.0.1")
    config.set("secure_scheme_headers", schemes)
    if tls:
        config.set("certfile", "cert.pem")      # is_ssl: the listener is TLS
    try:
        return Request(config, IterUnreader([raw]), (peer, 40000)).scheme
    except InvalidSchemeHeaders:
        return 400


def appserver_scheme(raw, peer, tls, schemes):
    parser = RequestParser()
    parser.feed(raw)
    listener = Listener(None, "tcp", ("127.0.0.1", 8000))
    env = build_environ(base_environ(listener, True), parser.next_event(), (peer, 40000),
                        None)
    env["wsgi.url_scheme"] = "https" if tls else "http"
    try:
        proxy.Rewriter(cfg(allow="127.0.0.1", schemes=schemes))(env)
    except BadRequest:
        return 400
    return env["wsgi.url_scheme"]


@pytest.mark.parametrize("lines", ORACLE_LINES)
@pytest.mark.parametrize("peer", ["127.0.0.1", "192.0.2.9"])
@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("schemes", [GUNICORN_SCHEMES, {"X-FORWARDED-SSL": "on"}, {}])
def test_the_scheme_is_gunicorns(lines, peer, tls, schemes):
    raw = ("GET / HTTP/1.1\r\nHost: example.com\r\n%s\r\n"
           % "".join(line + "\r\n" for line in lines)).encode()
    expected = gunicorn_scheme(raw, peer, tls, schemes)
    assert appserver_scheme(raw, peer, tls, schemes) == expected
