"""``--protocol uwsgi`` behind a real nginx with ``uwsgi_pass`` and the stock ``uwsgi_params``.

nginx runs in the foreground from a config written to ``tmp_path`` (pid file,
logs and temporary files there too), on a free loopback port, and is stopped
by pid in a finaliser. Clients connect from 127.0.0.2 so that the client
address the app sees (from the vars) differs from its peer (nginx, 127.0.0.1).
Checked: a GET with a query and an encoded path, headers as HTTP_*,
REMOTE_ADDR/REMOTE_PORT, a 1 MiB POST whose body comes back intact (sha256),
a chunked upload (nginx sends it with CONTENT_LENGTH), many requests in a row,
and uwsgi over TLS (`uwsgi_pass suwsgi://`) to a server with a certificate.
"""
import hashlib
import http.client
import json
import os
import shutil
import subprocess

import pytest

from tests.harness.process import Proc, free_port, wait_listening

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
STOCK_PARAMS = "/etc/nginx/uwsgi_params"
CLIENT = "127.0.0.2"
pytestmark = pytest.mark.skipif(not os.path.exists(NGINX),
                                reason="nginx is not installed (.ci/run installs it)")

# nginx's own uwsgi_params, for an nginx installed without it.
PARAMS = "\n".join("uwsgi_param %s $%s;" % pair for pair in [
    ("QUERY_STRING", "query_string"), ("REQUEST_METHOD", "request_method"),
    ("CONTENT_TYPE", "content_type"), ("CONTENT_LENGTH", "content_length"),
    ("REQUEST_URI", "request_uri"), ("PATH_INFO", "document_uri"),
    ("DOCUMENT_ROOT", "document_root"), ("SERVER_PROTOCOL", "server_protocol"),
    ("REQUEST_SCHEME", "scheme"), ("REMOTE_ADDR", "remote_addr"),
    ("REMOTE_PORT", "remote_port"), ("SERVER_PORT", "server_port"),
    ("SERVER_NAME", "server_name")]) + "\nuwsgi_param HTTPS $https if_not_empty;\n"

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 8m;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location / {{
            include {params};
            uwsgi_pass {scheme}127.0.0.1:{backend};
        }}
    }}
}}
"""


def start_nginx(tmp_path, backend_port, scheme=""):
    """nginx in front of ``backend_port`` (``suwsgi://``: over TLS); (proc, port)."""
    params = STOCK_PARAMS
    if not os.path.exists(params):
        params = tmp_path / "uwsgi_params"
        params.write_text(PARAMS)
    port = free_port()
    user = "user root root;" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(CONFIG.format(
        dir=tmp_path, port=port, backend=backend_port, params=params, user=user,
        scheme=scheme))
    proc = Proc([NGINX, "-p", tmp_path, "-c", tmp_path / "nginx.conf",
                 "-e", tmp_path / "error.log"], tmpdir=tmp_path)
    return proc, port


def run_nginx(request, tmp_path, backend_port, scheme=""):
    proc, port = start_nginx(tmp_path, backend_port, scheme)
    request.addfinalizer(proc.stop)
    proc.start()
    wait_listening(proc, [port], what="nginx")
    return proc, port


@pytest.fixture
def nginx(request, tmp_path, server_factory):
    """(server, nginx port, nginx Proc): appserver speaking uwsgi behind nginx."""
    srv = server_factory("front:application", "--protocol", "uwsgi")
    proc, port = run_nginx(request, tmp_path, srv.port)
    return srv, port, proc


def make_cert(directory):
    """A self-signed certificate and key for 127.0.0.1 (needs openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def request_from(port, method, path, body=None, headers=None, **kw):
    """One request from 127.0.0.2; (response, body, the client's own port)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                      source_address=(CLIENT, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {}, **kw)
        client_port = conn.sock.getsockname()[1]
        resp = conn.getresponse()
        return resp, resp.read(), client_port
    finally:
        conn.close()


def test_get_with_query_headers_and_client_address(nginx):
    srv, port, _ = nginx
    resp, body, client_port = request_from(port, "GET", "/caf%C3%A9/a%20b/%2541?x=1&y=%20z",
                                      headers={"X-Custom-Header": "hello",
                                               "User-Agent": "uwsgi-test/1"})
    assert resp.status == 200, body
    env = json.loads(body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a b/%41"       # decoded once, by nginx
    assert env["QUERY_STRING"] == "x=1&y=%20z"
    assert env["REQUEST_URI"] == "/caf%C3%A9/a%20b/%2541?x=1&y=%20z"
    assert env["HTTP_X_CUSTOM_HEADER"] == "hello"
    assert env["HTTP_USER_AGENT"] == "uwsgi-test/1"
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == (CLIENT, str(client_port))
    assert (env["SERVER_PORT"], env["SERVER_PROTOCOL"]) == (str(port), "HTTP/1.1")
    assert env["wsgi.url_scheme"] == "http" and env["SCRIPT_NAME"] == ""
    srv.assert_log_clean()


def test_post_of_1_mib_comes_back_intact(nginx):
    _, port, _ = nginx
    sent = os.urandom(1 << 20)
    resp, body, _ = request_from(port, "POST", "/roundtrip", body=sent,
                            headers={"Content-Type": "application/octet-stream"})
    assert resp.status == 200
    digest = hashlib.sha256(sent).hexdigest()
    assert resp.getheader("X-Body-Sha256") == digest
    assert resp.getheader("X-Body-Length") == str(len(sent))
    assert hashlib.sha256(body).hexdigest() == digest and len(body) == len(sent)


def test_chunked_upload_arrives_with_its_length(nginx):
    _, port, _ = nginx
    pieces = [os.urandom(70000) for _ in range(5)]
    resp, body, _ = request_from(port, "POST", "/roundtrip", body=iter(pieces),
                            encode_chunked=True,
                            headers={"Transfer-Encoding": "chunked"})
    assert resp.status == 200
    assert body == b"".join(pieces)


def test_many_requests_in_a_row_each_on_its_own_uwsgi_connection(nginx):
    srv, port, proc = nginx
    for i in range(30):
        resp, body, _ = request_from(port, "GET", "/n/%d" % i)
        assert resp.status == 200 and b'"/n/%d"' % i in body
    assert " [error] " not in (proc.tmpdir / "error.log").read_text()


def test_uwsgi_over_tls_with_suwsgi(request, tmp_path, server_factory):
    """``uwsgi_pass suwsgi://`` to appserver with --protocol uwsgi and a certificate."""
    cert, key = make_cert(tmp_path)
    srv = server_factory("front:application", "--protocol", "uwsgi",
                         "--certfile", cert, "--keyfile", key)
    assert srv.url.startswith("https://")
    _, port = run_nginx(request, tmp_path, srv.port, "suwsgi://")
    resp, body, client_port = request_from(port, "GET", "/tls?x=1")
    env = json.loads(body)
    assert resp.status == 200 and (env["PATH_INFO"], env["QUERY_STRING"]) == ("/tls", "x=1")
    assert env["REMOTE_PORT"] == str(client_port)
    assert env["wsgi.url_scheme"] == "http"     # the client's scheme, not the hop's
    sent = os.urandom(1 << 20)
    resp, body, _ = request_from(port, "POST", "/roundtrip", body=sent)
    assert resp.status == 200 and body == sent
