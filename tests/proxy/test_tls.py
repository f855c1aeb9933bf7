"""TLS over a real server, with certificates made at test time: HTTPS and
wsgi.url_scheme, large bodies both ways, file_wrapper without sendfile,
keep-alive and pipelining, a handshake that never blocks the worker, mutual
TLS, the minimum version and ciphers, start-up errors, certificates reread on
HUP, and TLS after a PROXY protocol header."""
import hashlib
import http.client
import json
import shutil
import signal
import socket
import ssl
import time

import pytest

from tests.harness.process import APPSERVER, Proc, short_tmpdir

from .apps.proxyapp import pattern
from .conftest import make_leaf, proxy_env, request
from .test_proxy_protocol_server import V1, assert_closed_without_answer

pytestmark = pytest.mark.timeout(90)
MIB = 1 << 20


def client_context(certs, cert=None, **versions):
    context = ssl.create_default_context(cafile=certs.ca_pem)
    context.set_alpn_protocols(["h2", "http/1.1"])
    if cert:
        context.load_cert_chain(getattr(certs, cert + "_pem"), getattr(certs, cert + "_key"))
    for name, value in versions.items():
        setattr(context, name, value)
    return context


def https(server, context, timeout=10.0):
    return http.client.HTTPSConnection("127.0.0.1", server.port, context=context,
                                       timeout=timeout)


def tls_server(serve, certs, *args, **kw):
    return serve("--certfile", certs.server_pem, "--keyfile", certs.server_key, *args, **kw)


def test_https_request_and_url_scheme(serve, certs):
    server = tls_server(serve, certs)
    conn = https(server, client_context(certs))
    response, body = request(conn, "GET", "/x")
    env = json.loads(body)
    assert response.status == 200 and env["wsgi.url_scheme"] == "https"
    assert env["SERVER_PORT"] == str(server.port)
    assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert conn.sock.selected_alpn_protocol() == "http/1.1"
    assert server.url == "https://127.0.0.1:%d" % server.port     # "Listening at"


def test_keep_alive_and_pipelining_over_tls(serve, certs):
    server = tls_server(serve, certs)
    raw = socket.create_connection(server.address)
    sock = client_context(certs).wrap_socket(raw, server_hostname="localhost")
    one = b"GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n"
    sock.sendall(one * 3 + b"GET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = sock.makefile("rb").read()
    assert data.count(b"HTTP/1.1 200 OK") == 4
    bodies = [json.loads(part.split(b"}")[0] + b"}")
              for part in data.split(b"\r\n\r\n") if part.startswith(b"{")]
    assert [b["PATH_INFO"] for b in bodies] == ["/a", "/a", "/a", "/b"]
    assert len({b["REMOTE_PORT"] for b in bodies}) == 1


@pytest.mark.parametrize("path", ["/download", "/file"])
def test_ten_mib_download_intact(serve, certs, path):
    server = tls_server(serve, certs)
    response, body = request(https(server, client_context(certs)), "GET",
                             "%s?size=%d" % (path, 10 * MIB))
    assert response.status == 200 and len(body) == 10 * MIB
    assert hashlib.sha256(body).digest() == hashlib.sha256(pattern(10 * MIB)).digest()


def test_ten_mib_upload_intact(serve, certs):
    server = tls_server(serve, certs)
    data = pattern(10 * MIB + 123)
    response, body = request(https(server, client_context(certs)), "POST", "/upload",
                             body=data)
    assert json.loads(body) == {"sha256": hashlib.sha256(data).hexdigest(),
                                "length": len(data)}


def test_stalled_handshake_does_not_block_the_worker_and_times_out(serve, certs):
    server = tls_server(serve, certs, "--header-timeout", "2")         # one worker
    silent = socket.create_connection(server.address)
    partial = socket.create_connection(server.address)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # a ClientHello begun
    started = time.monotonic()
    for _ in range(3):
        response, _ = request(https(server, client_context(certs)), "GET", "/")
        assert response.status == 200
    assert time.monotonic() - started < 1.5, "the handshakes waited for the stalled ones"
    assert_closed_without_answer(partial, timeout=6.0)
    assert_closed_without_answer(silent, timeout=2.0)
    assert 1.8 < time.monotonic() - started < 5.0


class MemoryTLS:
    """A TLS client over ``sock`` that can send part of a record."""

    def __init__(self, sock, context):
        self.sock, self.incoming, self.outgoing = sock, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self._until(self.tls.do_handshake)
        self.sock.sendall(self.outgoing.read())

    def _until(self, step):
        while True:
            try:
                return step()
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                self.incoming.write(self.sock.recv(65536))

    def record(self, data):
        """The encrypted bytes for ``data``."""
        self.tls.write(data)
        return self.outgoing.read()

    def read_until(self, end):
        data = b""
        while not data.endswith(end):
            data += self._until(lambda: self.tls.read(65536))
        return data


def test_a_partial_tls_record_does_not_block_the_worker(serve, certs):
    server = tls_server(serve, certs, "--header-timeout", "2")         # one worker
    slow = socket.create_connection(server.address)
    client = MemoryTLS(slow, client_context(certs))
    slow.sendall(client.record(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
    assert client.read_until(b"}").startswith(b"HTTP/1.1 200 OK")      # now keep-alive
    record = client.record(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    slow.sendall(record[:len(record) // 2])         # half a record: nothing to decrypt
    started = time.monotonic()
    response, _ = request(https(server, client_context(certs)), "GET", "/")
    assert response.status == 200
    assert time.monotonic() - started < 1.0, "the worker waited for the partial record"
    read_until_closed(slow, timeout=6.0)


def read_until_closed(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_tls_connections_stay_with_their_worker_during_a_long_request(serve, certs):
    """A busy worker hands its idle connections to a free worker (handoff.py);
    a TLS session cannot move, so an idle TLS connection must stay."""
    server = tls_server(serve, certs)                                  # one worker
    idle = https(server, client_context(certs))
    assert request(idle)[0].status == 200
    busy = https(server, client_context(certs))
    assert request(busy, "GET", "/?ms=300")[0].status == 200          # > HANDOFF_AFTER
    response, body = request(idle, "GET", "/again")
    assert response.status == 200 and json.loads(body)["PATH_INFO"] == "/again"


def test_plain_http_to_a_tls_port_is_closed(serve, certs):
    server = tls_server(serve, certs)
    sock = socket.create_connection(server.address)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert_closed_without_answer(sock)
    server.wait_for_log(r"TLS handshake failed")


# -- client certificates -------------------------------------------------------------

def mtls(serve, certs, mode):
    return tls_server(serve, certs, "--ca-certs", certs.ca_pem, "--cert-reqs", mode)


def fetch(server, context):
    response, body = request(https(server, context), "GET", "/")
    return response.status


def test_required_client_certificate(serve, certs):
    server = mtls(serve, certs, "required")
    assert fetch(server, client_context(certs, "client")) == 200
    for context in (client_context(certs), client_context(certs, "stranger")):
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            fetch(server, context)


def test_optional_client_certificate(serve, certs):
    server = mtls(serve, certs, "optional")
    assert fetch(server, client_context(certs)) == 200
    assert fetch(server, client_context(certs, "client")) == 200
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        fetch(server, client_context(certs, "stranger"))


# -- versions and ciphers ----------------------------------------------------------------

def assert_tls13_only(server, certs):
    old = client_context(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError):
        fetch(server, old)
    conn = https(server, client_context(certs))
    request(conn)
    assert conn.sock.version() == "TLSv1.3"


def test_minimum_version(serve, certs):
    assert_tls13_only(tls_server(serve, certs, "--tls-min-version", "1.3"), certs)


def test_ciphers_for_tls12(serve, certs):
    server = tls_server(serve, certs, "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256")
    tls12 = client_context(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
    tls12.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    with pytest.raises(ssl.SSLError):
        fetch(server, tls12)
    tls12.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384")
    conn = https(server, tls12)
    request(conn)
    assert conn.sock.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"


# -- start-up errors ---------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--certfile", "/nonexistent/cert.pem"], "certfile/keyfile (/nonexistent/cert.pem)"),
    (["--certfile", "{server_pem}", "--keyfile", "{client_key}"], "key values mismatch"),
    (["--certfile", "{server_pem}", "--keyfile", "{server_key}", "--cert-reqs", "required"],
     "cert-reqs required needs ca-certs"),
    (["--keyfile", "{server_key}"], "need certfile"),
    (["--certfile", "{server_pem}", "--keyfile", "{server_key}", "--ciphers", "NOPE"],
     "ciphers (NOPE)"),
])
def test_bad_tls_settings_stop_the_start_with_exit_2(certs, args, message):
    argv = APPSERVER + ["proxyapp", "--bind", "127.0.0.1:0"]
    argv += [a.format(server_pem=certs.server_pem, server_key=certs.server_key,
                      client_key=certs.client_key) for a in args]
    proc = Proc(argv, env=proxy_env()).start()
    try:
        assert proc.wait_exit() == 2
        assert message in proc.log() and "Listening at" not in proc.log()
    finally:
        proc.stop()
        shutil.rmtree(proc.tmpdir, ignore_errors=True)


def test_check_config_reports_a_bad_certificate(certs):
    proc = Proc(APPSERVER + ["proxyapp", "--check-config", "--certfile", certs.server_pem,
                             "--keyfile", certs.client_key], env=proxy_env()).start()
    try:
        assert proc.wait_exit() == 2 and "key values mismatch" in proc.log()
    finally:
        proc.stop()
        shutil.rmtree(proc.tmpdir, ignore_errors=True)


# -- HUP and PROXY protocol ------------------------------------------------------------------

def test_hup_rereads_the_certificate_and_refuses_a_broken_one(serve, certs):
    directory = short_tmpdir()
    try:
        for name in ("ca.pem", "ca.key", "server.pem", "server.key", "server.ext"):
            shutil.copy(certs.dir / name, directory / name)
        server = serve("--certfile", str(directory / "server.pem"),
                       "--keyfile", str(directory / "server.key"))
        assert _serial(server, certs) == 1
        (directory / "server.pem").write_text("half-written\n")
        offset = len(server.log())
        server.signal(signal.SIGHUP)
        server.wait_for_log(r"Reload failed, keeping the running configuration: "
                                 r"certfile/keyfile", after=offset)
        assert _serial(server, certs) == 1            # the old workers keep serving
        make_leaf(directory, "server", "ca", "serverAuth",
                  "subjectAltName=IP:127.0.0.1,DNS:localhost", serial="77")
        offset = len(server.log())
        server.signal(signal.SIGHUP)
        server.wait_for_log(r"Worker \d+ exited with code 0", after=offset)
        assert _serial(server, certs) == 77           # the new worker's context
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _serial(server, certs):
    conn = https(server, client_context(certs))
    request(conn)
    return int(conn.sock.getpeercert()["serialNumber"], 16)


def test_proxy_protocol_header_before_the_tls_handshake(serve, certs):
    server = tls_server(serve, certs, "--proxy-protocol")
    raw = socket.create_connection(server.address)
    raw.sendall(V1)
    sock = client_context(certs).wrap_socket(raw, server_hostname="localhost")
    sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = sock.makefile("rb").read()
    env = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert env["REMOTE_ADDR"] == "203.0.113.9" and env["wsgi.url_scheme"] == "https"


def test_gunicorn_ssl_context_hook_shapes_the_context(serve, certs, tmp_path):
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(
        "import ssl\n"
        "def ssl_context(conf, default_ssl_context_factory):\n"
        "    context = default_ssl_context_factory()\n"
        "    assert conf.certfile and conf.keyfile\n"
        "    context.minimum_version = ssl.TLSVersion.TLSv1_3\n"
        "    return context\n")
    server = tls_server(serve, certs, "-c", str(conf))          # default minimum: 1.2
    assert_tls13_only(server, certs)
