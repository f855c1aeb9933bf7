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
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from tests.deploy.harness import REPO_ROOT, Proc, free_port, short_tmpdir, wait_until

from .apps.proxyapp import pattern
from .conftest import request

pytestmark = pytest.mark.timeout(120)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = REPO_ROOT / "examples" / "nginx" / "appserver.conf"
MIB = 1 << 20
FORGED = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.example",
          "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/evil",
          "Forwarded": "for=6.6.6.6;proto=https"}

MAIN = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/appserver.conf;
}}
"""

if not os.path.exists(NGINX):
    pytestmark = [pytestmark, pytest.mark.skip(reason="nginx is not installed (.ci/run "
                                                       "installs it)")]


def replace_once(text, old, new):
    assert text.count(old) == 1, "the example no longer has %r" % old
    return text.replace(old, new)


class Nginx:
    """nginx from the example; ``http``/``https`` are its loopback ports."""

    def __init__(self, certs, app_port, sock, upstream="tcp", edits=()):
        self.dir = short_tmpdir()
        os.chmod(self.dir, 0o755)          # nginx workers (nobody) reach the socket
        self.http, self.https = free_port(), free_port()
        conf = EXAMPLE.read_text()
        for old, new in [
                ("server 127.0.0.1:8000;", "server 127.0.0.1:%d;" % app_port),
                ("server unix:/run/appserver/appserver.sock;", "server unix:%s;" % sock),
                ("listen 80;", "listen 127.0.0.1:%d;" % self.http),
                ("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % self.https),
                ("/etc/ssl/certs/example.com.pem", certs.server_pem),
                ("/etc/ssl/private/example.com.key", certs.server_key),
                ("proxy_pass http://appserver_tcp;", "proxy_pass http://appserver_%s;" % upstream),
        ] + list(edits):
            conf = replace_once(conf, old, new)
        (self.dir / "appserver.conf").write_text(conf)
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(MAIN.format(dir=self.dir, user=user))
        self.proc = Proc([NGINX, "-p", self.dir, "-c", self.dir / "nginx.conf",
                          "-e", self.dir / "error.log"], tmpdir=self.dir)

    def start(self):
        self.proc.start()
        wait_until(lambda: self._accepts(self.http) and self._accepts(self.https), 15,
                   "nginx to listen\n" + self.proc.log() + self.error_log())
        return self

    def _accepts(self, port):
        if self.proc.popen.poll() is not None:
            raise AssertionError("nginx exited:\n" + self.proc.log() + self.error_log())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def error_log(self):
        path = self.dir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self):
        self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def connection(self, tls=False, source="127.0.0.1", ca=None):
        if tls:
            context = ssl.create_default_context(cafile=ca)
            return http.client.HTTPSConnection("127.0.0.1", self.https, context=context,
                                               timeout=30, source_address=(source, 0))
        return http.client.HTTPConnection("127.0.0.1", self.http, timeout=30,
                                          source_address=(source, 0))


@pytest.fixture
def stack(serve, certs, sock_dir):
    """``start(upstream, app_args, edits)`` -> nginx in front of appserver."""
    started = []

    def start(upstream="tcp", app_args=(), edits=()):
        sock = sock_dir / "app.sock"
        if upstream == "tcp":
            app = serve(*app_args)
            port = app.port
        else:
            perms = (["--bind-mode", "660", "--bind-owner", ":nogroup"]
                     if os.geteuid() == 0 else ["--bind-mode", "600"])
            app = serve(*(list(app_args) + perms), bind="unix:%s" % sock)
            port = 1
        os.chmod(sock_dir, 0o755)
        nginx = Nginx(certs, port, sock, upstream, edits)
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
