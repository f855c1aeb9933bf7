"""Fixtures for the proxy, PROXY protocol, TLS and nginx tests.

``serve(*args, bind=...)`` starts ``python -m appserver proxyapp`` (this
worktree's code, tests/proxy/apps on the path) with ``--bind`` (default
127.0.0.1:0) as a ``tests.harness.server.Server``, returned once ``Ready`` is
logged; ``.address`` is ``(host, port)`` or the unix socket path. Every server
is stopped by pid when the test ends. ``certs`` makes a CA, a server
certificate for 127.0.0.1 and localhost, client certificates from that CA and
from another one, with the openssl command, once per session.
"""
import http.client
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.process import app_env, short_tmpdir

APPS = Path(__file__).resolve().parent / "apps"


def proxy_env():
    return app_env([APPS])


@pytest.fixture
def serve(server_factory):
    def start(*args, bind="127.0.0.1:0", workers=1, app="proxyapp"):
        return server_factory(app, *args, bind=bind, workers=workers, pythonpath=[APPS])
    return start


@pytest.fixture
def sock_dir():
    """A short directory for unix socket files, removed afterwards."""
    directory = short_tmpdir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def request(conn, method="GET", path="/", body=None, headers=None):
    """One request on an ``http.client`` connection; ``(response, body)``."""
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def get_json(conn, path="/", headers=None):
    response, body = request(conn, "GET", path, headers=headers)
    assert response.status == 200, (response.status, body)
    return json.loads(body)


def http_connection(server, timeout=10.0):
    return server.connection(timeout)


def connection_over(sock, host="localhost"):
    """An ``http.client`` connection that uses an already connected socket."""
    conn = http.client.HTTPConnection(host)
    conn.sock = sock
    return conn


# -- certificates -------------------------------------------------------------------

_LEAF = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage={usage}
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
{san}
"""


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)


def make_leaf(directory, name, ca, usage, san="", serial="1"):
    ext = Path(directory) / (name + ".ext")
    ext.write_text(_LEAF.format(usage=usage, san=san))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
            cwd=directory)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-set_serial", serial, "-days", "2", "-out", name + ".pem", "-extfile", ext.name,
            cwd=directory)


class Certs:
    def __init__(self, directory):
        self.dir = Path(directory)

    def __getattr__(self, name):            # certs.server_pem -> .../server.pem
        stem, _, ext = name.rpartition("_")
        return str(self.dir / ("%s.%s" % (stem, ext)))


@pytest.fixture(scope="session")
def certs():
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory = short_tmpdir()
    make_ca(directory, "ca")
    make_ca(directory, "otherca")
    make_leaf(directory, "server", "ca", "serverAuth",
              "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost")
    make_leaf(directory, "client", "ca", "clientAuth", serial="2")
    make_leaf(directory, "stranger", "otherca", "clientAuth", serial="3")
    yield Certs(directory)
    shutil.rmtree(directory, ignore_errors=True)
