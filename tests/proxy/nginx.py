"""Run nginx from examples/nginx/appserver.conf for the tests.

``Nginx(certs, servers, sock, upstream, edits, host, netns)`` writes the
example with its TCP upstream servers replaced by ``servers`` (lines), its unix
upstream by ``sock``, its listen ports by two free ports on ``host`` (loopback
by default; ``http``, ``https``),
its certificate paths by the test certificates, its ``proxy_pass`` pointing at
``appserver_<upstream>``, and each ``(old, new)`` of ``edits`` applied (each
must match exactly once, so the test fails when the example changes under
it). The main config keeps the prefix, pid file, logs and temporary files in
a private directory; nginx runs in the foreground (in network namespace
``netns`` if given), as a ``Proc`` stopped by pid. ``start()`` returns once
both ports accept connections.
"""
import http.client
import os
import shutil
import ssl

import pytest

from tests.harness.process import Proc, REPO_ROOT, free_port, short_tmpdir, wait_listening

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = REPO_ROOT / "examples" / "nginx" / "appserver.conf"
NEEDS_NGINX = pytest.mark.skipif(not os.path.exists(NGINX),
                                 reason="nginx is not installed (.ci/run installs it)")

MAIN = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
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


def replace_once(text, old, new):
    assert text.count(old) == 1, "the example no longer has %r" % old
    return text.replace(old, new)


class Nginx:
    """nginx from the example; see the module comment."""

    def __init__(self, certs, servers, sock, upstream="tcp", edits=(), host="127.0.0.1",
                 netns=None):
        self.dir, self.host = short_tmpdir(), host
        os.chmod(self.dir, 0o755)           # nginx workers run as nobody when root
        self.http, self.https = free_port(), free_port()
        conf = EXAMPLE.read_text()
        for old, new in [
                ("server 127.0.0.1:8000;", "\n    ".join(servers)),
                ("server unix:/run/appserver/appserver.sock;", "server unix:%s;" % sock),
                ("listen 80;", "listen %s:%d;" % (host, self.http)),
                ("listen 443 ssl;", "listen %s:%d ssl;" % (host, self.https)),
                ("/etc/ssl/certs/example.com.pem", certs.server_pem),
                ("/etc/ssl/private/example.com.key", certs.server_key),
                ("proxy_pass http://appserver_tcp;",
                 "proxy_pass http://appserver_%s;" % upstream),
        ] + list(edits):
            conf = replace_once(conf, old, new)
        (self.dir / "appserver.conf").write_text(conf)
        user = "user nobody nogroup;" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(MAIN.format(dir=self.dir, user=user))
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = Proc(prefix + [NGINX, "-p", self.dir, "-c", self.dir / "nginx.conf",
                                   "-e", self.dir / "error.log"], tmpdir=self.dir,
                         extra_logs=["error.log"])

    def start(self):
        self.proc.start()
        wait_listening(self.proc, [(self.host, self.http), (self.host, self.https)],
                       what="nginx")
        return self

    def error_log(self):
        return (self.dir / "error.log").read_text() if (self.dir / "error.log").exists() else ""

    def stop(self):
        self.proc.cleanup()

    def connection(self, tls=False, source=None, ca=None, timeout=30):
        source = (source, 0) if source else None
        if tls:
            context = ssl.create_default_context(cafile=ca)
            return http.client.HTTPSConnection(self.host, self.https, context=context,
                                               timeout=timeout, source_address=source)
        return http.client.HTTPConnection(self.host, self.http, timeout=timeout,
                                          source_address=source)
