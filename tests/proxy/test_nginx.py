"""examples/nginx/appserver.conf in front of appserver, with a real nginx.

The test runs nginx from the example (its addresses and certificate paths
replaced, everything else as shipped) in the foreground, with its prefix, pid
file, logs and temporary files in a private directory, on loopback ports, and
appserver behind it over TCP and over a unix socket. It checks what reaches
the app: the client address (a client's forged X-Forwarded-For is overwritten
by nginx), the scheme (https when nginx terminates TLS), upstream keep-alive,
and 10 MiB bodies both ways.
"""
import hashlib
import json
import os

import pytest

from .apps.proxyapp import pattern
from .conftest import request
from .nginx import NEEDS_NGINX, Nginx

pytestmark = [pytest.mark.timeout(120), NEEDS_NGINX]
MIB = 1 << 20
FORGED = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.example",
          "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/evil",
          "Forwarded": "for=6.6.6.6;proto=https", "X-Forwarded-Ssl": "on",
          "X-Forwarded-Protocol": "ssl"}


@pytest.fixture
def stack(serve, certs, sock_dir):
    """``start(upstream, app_args, edits)`` -> nginx in front of appserver."""
    started = []

    def start(upstream="tcp", app_args=(), edits=()):
        sock = sock_dir / "app.sock"
        os.chmod(sock_dir, 0o755)
        if upstream == "tcp":
            servers = ["server 127.0.0.1:%d;" % serve(*app_args).port]
        else:
            perms = (["--bind-mode", "660", "--bind-owner", ":nogroup"]
                     if os.geteuid() == 0 else ["--bind-mode", "600"])
            serve(*(list(app_args) + perms), bind="unix:%s" % sock)
            servers = ["server 127.0.0.1:9;"]      # the unused TCP upstream needs one
        nginx = Nginx(certs, servers, sock, upstream, edits)
        started.append(nginx)
        return nginx.start()

    yield start
    for nginx in started:
        nginx.stop()


def app_json(conn, path="/", headers=None):
    response, body = request(conn, "GET", path, headers=headers)
    assert response.status == 200, (response.status, body[:300])
    return json.loads(body)


@pytest.mark.parametrize("upstream", ["tcp", "unix"])
def test_client_address_and_scheme_arrive_right(stack, certs, upstream):
    nginx = stack(upstream)
    env = app_json(nginx.connection(), "/x", FORGED)
    assert env["REMOTE_ADDR"] == "127.0.0.1"         # nginx overwrote the forged 6.6.6.6
    assert env["wsgi.url_scheme"] == "http"
    assert (env["HTTP_HOST"], env["SERVER_PORT"]) == ("127.0.0.1:%d" % nginx.http,
                                                      str(nginx.http))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/x")
    assert env["headers"] == ["HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST",
                              "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PROTO"]
    env = app_json(nginx.connection(tls=True, ca=certs.ca_pem), "/", {"Host": "localhost"})
    assert env["wsgi.url_scheme"] == "https"
    assert (env["HTTP_HOST"], env["SERVER_PORT"]) == ("localhost:%d" % nginx.https,
                                                      str(nginx.https))


def test_appended_x_forwarded_for_keeps_the_rightmost_untrusted_hop(stack):
    """With $proxy_add_x_forwarded_for nginx appends $remote_addr to the client's
    header; the client (127.0.0.2, not a trusted proxy) is the rightmost hop
    that is not trusted, so the forged 6.6.6.6 to its left is not believed."""
    nginx = stack(edits=[("X-Forwarded-For $remote_addr;",
                          "X-Forwarded-For $proxy_add_x_forwarded_for;")])
    env = app_json(nginx.connection(source="127.0.0.2"), "/", FORGED)
    assert env["REMOTE_ADDR"] == "127.0.0.2"


def test_upstream_connections_are_kept_alive(stack):
    # nginx is not trusted here, so REMOTE_PORT is nginx's end of the upstream
    # connection rather than a forwarded client's.
    nginx = stack(app_args=["--forwarded-allow-ips", "192.0.2.1"])
    ports = [app_json(nginx.connection())["REMOTE_PORT"] for _ in range(8)]
    assert len(set(ports)) < len(ports), ports


@pytest.mark.parametrize("upstream", ["tcp", "unix"])
def test_ten_mib_upload_and_download_pass_intact(stack, upstream):
    nginx = stack(upstream)
    data = pattern(10 * MIB + 7)
    response, body = request(nginx.connection(), "POST", "/upload", body=data)
    assert response.status == 200, body[:300]
    assert json.loads(body) == {"sha256": hashlib.sha256(data).hexdigest(),
                                "length": len(data)}
    response, body = request(nginx.connection(), "GET", "/download?size=%d" % (10 * MIB))
    assert response.status == 200 and len(body) == 10 * MIB
    assert hashlib.sha256(body).digest() == hashlib.sha256(pattern(10 * MIB)).digest()


def test_the_body_limit_is_nginx_s(stack):
    nginx = stack()
    conn = nginx.connection()
    conn.putrequest("POST", "/upload")
    conn.putheader("Content-Length", str(101 * MIB))
    conn.endheaders()
    assert conn.getresponse().status == 413
