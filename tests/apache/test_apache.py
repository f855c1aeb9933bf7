"""examples/apache/appserver.conf in front of appserver, in a real Apache httpd (Debian's apache2).

Apache runs in the foreground (one child process, the event MPM) from a main
config written to a private directory (pid file, logs, runtime files there)
that loads the modules the example needs and includes the example with its
ports, backend address and certificate paths replaced (each replacement must
match, so the test fails when the example changes under it). It listens on
two free loopback ports (HTTP and HTTPS) and is stopped by pid in a
finaliser. Clients connect from 127.0.0.2. Checked: a request reaches the app
with the client's Host, and its address and scheme (http and https) from the
X-Forwarded-* headers of the trusted Apache; 1 MiB goes both ways intact;
backend connections are reused and retired after the example's ttl;
ProxyPassReverse rewrites a backend redirect.
"""
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness.process import Proc, REPO_ROOT, free_port, short_tmpdir, wait_listening

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
EXAMPLE = REPO_ROOT / "examples" / "apache" / "appserver.conf"
CLIENT = "127.0.0.2"
TTL = int(re.search(r"\bttl=(\d+)", EXAMPLE.read_text()).group(1))
pytestmark = pytest.mark.skipif(
    not (os.path.exists(APACHE) and MODULES.is_dir()),
    reason="Debian's apache2 is not installed (.ci/run installs it)")

MAIN = """\
ServerRoot "{dir}"
DefaultRuntimeDir "{dir}"
PidFile "{dir}/httpd.pid"
ErrorLog "{dir}/error.log"
LogLevel warn
ServerName localhost
{user}
Listen 127.0.0.1:{http}
Listen 127.0.0.1:{https}
ServerLimit 1
StartServers 1
ThreadsPerChild 16
MaxRequestWorkers 16
{modules}
Include "{dir}/appserver.conf"
"""
NEEDED = ["mpm_event", "authz_core", "proxy", "proxy_http", "headers"]
TLS_MODULES = ["socache_shmcb", "ssl"]


def substitute(text, old, new):
    assert text.count(old) >= 1, "the example no longer has %r" % old
    return text.replace(old, new)


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1, or None without openssl."""
    if shutil.which("openssl") is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def run_as():
    """The unprivileged user (and its gid) Apache's children take when started as root."""
    for name in ("www-data", "nobody"):
        try:
            return name, pwd.getpwnam(name).pw_gid
        except KeyError:
            pass
    pytest.skip("no www-data or nobody user to run Apache's children as")


class Apache:
    """The example in Apache; ``start()`` returns once both ports accept."""

    def __init__(self, backend_port):
        self.dir = short_tmpdir()
        self.http, self.https = free_port(), free_port()
        self.cert = make_cert(self.dir)
        tls = self.cert is not None and (MODULES / "mod_ssl.so").exists()
        conf = EXAMPLE.read_text()
        for old, new in [("127.0.0.1:8000", "127.0.0.1:%d" % backend_port),
                         ("<VirtualHost *:80>", "<VirtualHost *:%d>" % self.http),
                         ("<VirtualHost *:443>", "<VirtualHost *:%d>" % self.https),
                         ("/etc/ssl/certs/example.com.pem", str(self.cert[0]) if tls else "-"),
                         ("/etc/ssl/private/example.com.key", str(self.cert[1]) if tls else "-")]:
            conf = substitute(conf, old, new)
        (self.dir / "appserver.conf").write_text(conf)
        modules = NEEDED + (TLS_MODULES if tls else [])
        user = "User %s\nGroup #%d" % run_as() if os.geteuid() == 0 else ""
        (self.dir / "httpd.conf").write_text(MAIN.format(
            dir=self.dir, http=self.http, https=self.https, user=user,
            modules="\n".join("LoadModule %s_module %s/mod_%s.so" % (m, MODULES, m)
                              for m in modules)))
        self.tls = tls
        self.proc = Proc([APACHE, "-DFOREGROUND", "-f", self.dir / "httpd.conf"],
                         tmpdir=self.dir, extra_logs=["error.log"])

    def start(self):
        self.proc.start()
        ports = [self.http] + ([self.https] if self.tls else [])
        wait_listening(self.proc, ports, what="apache")
        return self

    def stop(self):
        self.proc.cleanup()

    def request(self, method, path, body=None, headers=None, tls=False):
        """One request from 127.0.0.2 on a new connection: (response, body)."""
        if tls:
            context = ssl.create_default_context(cafile=str(self.cert[0]))
            conn = http.client.HTTPSConnection("127.0.0.1", self.https, context=context,
                                               timeout=30, source_address=(CLIENT, 0))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.http, timeout=30,
                                              source_address=(CLIENT, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp, resp.read()
        finally:
            conn.close()


@pytest.fixture
def apache(request, server_factory):
    """(appserver, Apache) with the example in front."""
    srv = server_factory("front:application", "--keep-alive", "30")
    front = Apache(srv.port)
    request.addfinalizer(front.stop)
    return srv, front.start()


def backend_peers(port):
    """Source ports of the established TCP connections to 127.0.0.1:``port``."""
    peers = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if state == "01" and local == "0100007F:%04X" % port:
            peers.add(int(remote.split(":")[1], 16))
    return peers


def test_request_reaches_the_app_with_host_and_forwarded_headers(apache):
    srv, front = apache
    resp, body = front.request("GET", "/a%20b?x=1&y=%20z", headers={"X-Custom": "v"})
    assert resp.status == 200, body
    env = json.loads(body)
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/a b", "x=1&y=%20z")
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % front.http        # ProxyPreserveHost
    assert env["HTTP_X_CUSTOM"] == "v"
    # Apache on 127.0.0.1 is trusted by default: its X-Forwarded-* headers apply.
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"]) == (CLIENT, "http")
    assert env["HTTP_X_FORWARDED_FOR"] == CLIENT
    srv.assert_log_clean()


def test_https_site_says_https(apache):
    _, front = apache
    if not front.tls:
        pytest.skip("openssl or mod_ssl is missing")
    resp, body = front.request("GET", "/secure", tls=True)
    assert resp.status == 200, body
    env = json.loads(body)
    assert (env["wsgi.url_scheme"], env["HTTP_X_FORWARDED_PROTO"]) == ("https", "https")
    assert (env["PATH_INFO"], env["REMOTE_ADDR"]) == ("/secure", CLIENT)


def test_one_mib_goes_both_ways_intact(apache):
    _, front = apache
    sent = os.urandom(1 << 20)
    resp, body = front.request("POST", "/roundtrip", body=sent,
                               headers={"Content-Type": "application/octet-stream"})
    assert resp.status == 200
    assert resp.getheader("X-Body-Sha256") == hashlib.sha256(sent).hexdigest()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(sent).hexdigest()


def test_backend_connections_are_reused_then_retired_after_ttl(apache):
    srv, front = apache
    for _ in range(3):
        assert front.request("GET", "/")[0].status == 200
    first = backend_peers(srv.port)
    assert len(first) == 1, first           # three requests, one backend connection
    time.sleep(TTL + 0.6)                   # idle past the ttl, within --keep-alive 30
    assert front.request("GET", "/")[0].status == 200
    assert backend_peers(srv.port) - first, "the idle connection was used past its ttl"


def test_proxy_pass_reverse_rewrites_a_backend_redirect(apache):
    srv, front = apache
    resp, _ = front.request("GET", "/redirect?to=http%%3A//127.0.0.1%%3A%d/next" % srv.port)
    assert resp.status == 302
    assert resp.getheader("Location") == "http://127.0.0.1:%d/next" % front.http
