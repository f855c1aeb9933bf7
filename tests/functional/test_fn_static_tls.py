"""Static files over TLS: the file goes out in records from the loop (no
kernel sendfile), whole, also when the client reads it slowly, while the
same worker answers other requests."""
import hashlib
import socket
import ssl

import pytest

from tests.proxy.conftest import certs, serve  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(90)
SIZE = 12 << 20


@pytest.fixture
def tls_static(serve, certs, tmp_path):  # noqa: F811
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * (SIZE // 256))
    (tmp_path / "a.txt").write_bytes(b"small")
    return serve("--certfile", certs.server_pem, "--keyfile", certs.server_key,
                 "--static", "/s/=%s" % tmp_path)


def connect(server, certs, rcvbuf=None):  # noqa: F811
    raw = socket.socket(socket.AF_INET)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(20)
    raw.connect(server.address)
    context = ssl.create_default_context(cafile=certs.ca_pem)
    return context.wrap_socket(raw, server_hostname="localhost")


def fetch(sock, target, close=True):
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n"
                 % (target, b"Connection: close\r\n" if close else b""))


def read_all(sock):
    data = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk


def test_a_large_file_over_tls_with_a_slow_reader(tls_static, certs):  # noqa: F811
    slow = connect(tls_static, certs, rcvbuf=16384)
    fetch(slow, b"/s/big.bin")
    first = slow.recv(4096)
    assert first.startswith(b"HTTP/1.1 200 OK")
    for _ in range(3):
        other = connect(tls_static, certs)
        fetch(other, b"/s/a.txt")
        assert read_all(other).endswith(b"\r\n\r\nsmall")
        other.close()
    head, _, body = (first + read_all(slow)).partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % SIZE in head
    assert hashlib.sha256(body).digest() == hashlib.sha256(
        bytes(range(256)) * (SIZE // 256)).digest()
