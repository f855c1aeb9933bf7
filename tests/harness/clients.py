"""Clients for the tests: they talk to a server over TCP or a unix socket.

Contract: ``UnixHTTPConnection(path)`` is ``http.client`` over a unix socket
(the Host header is fake). ``http_get(address, path)`` sends one GET to
``(host, port)`` or a unix socket path and returns ``(status, body)``.
``read_response(rfile)`` reads one HTTP/1.x response from a buffered binary
file strictly (for pipelining and for checking framing byte by byte) into a
``Response``. ``recv_until_closed(sock)`` reads until the server closes
(failing if it stays open); ``raw_request(server, data)`` sends bytes on a
fresh connection and returns all that comes back until the close.
``admin_url(server)`` is the admin listener's URL from the ``Admin listener
at:`` log line; ``admin_get(server, path)`` fetches one of its pages as
``(status, text)``. ``wait_readable(sock)`` returns once the peer has sent something, reading
nothing. ``get_in_thread(server, path, results, key)`` runs ``server.get`` in a
daemon thread and stores the response, or the exception, in
``results[key]``. Every call is bounded by a timeout.
"""
from __future__ import annotations

import http.client
import re
import select
import socket
import threading
import time
from dataclasses import dataclass


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a unix-domain socket (the Host header is fake)."""

    def __init__(self, path, timeout=10.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


@dataclass
class Response:
    """A fully read response."""

    status: int
    reason: str
    version: str
    headers: list  # [(name, value)] in wire order
    body: bytes
    raw_head: bytes = b""
    chunked: bool = False
    complete: bool = True  # False if the body's framing was cut short

    def header(self, name, default=None):
        """The first value of header ``name`` (case-insensitive)."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    def header_all(self, name):
        """All values of header ``name`` (case-insensitive)."""
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        import json

        return json.loads(self.body)

    @classmethod
    def of(cls, resp):
        """The ``Response`` of an ``http.client`` response, its body read."""
        body = resp.read()
        return cls(
            status=resp.status,
            reason=resp.reason,
            version="HTTP/1.1" if resp.version == 11 else "HTTP/1.0",
            headers=list(resp.getheaders()),
            body=body,
            chunked=bool(resp.chunked),
        )


def read_response(rfile, method="GET"):
    """Read one HTTP/1.x response from the buffered binary file ``rfile``.

    Frames the body the way RFC 9112 section 6.3 says a client must: no body
    for HEAD, 1xx, 204 and 304; chunked; Content-Length; else until EOF.
    Interim 1xx responses are skipped. Raises ``EOFError`` if the connection
    closes before a status line. A body cut short by EOF is returned with
    ``complete=False``.
    """
    while True:
        status_line = rfile.readline(65537)
        if not status_line:
            raise EOFError("connection closed before a status line")
        head = [status_line]
        m = re.match(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?\r\n$", status_line)
        if not m:
            raise ValueError(f"bad status line: {status_line!r}")
        version, status = m.group(1).decode(), int(m.group(2))
        reason = (m.group(3) or b"").decode("latin-1")
        headers = _read_fields(rfile, head)
        if 100 <= status < 200 and status != 101:
            continue
        break
    resp = Response(status, reason, version, headers, b"", raw_head=b"".join(head))
    te = ",".join(resp.header_all("transfer-encoding")).lower()
    if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return resp
    if te:
        if te.replace(" ", "").split(",")[-1] != "chunked":
            raise ValueError(f"unexpected transfer-encoding {te!r}")
        resp.chunked = True
        resp.body, resp.complete = _read_chunked(rfile)
    elif resp.header("content-length") is not None:
        n = int(resp.header("content-length"))
        resp.body = _read_exact(rfile, n)
        resp.complete = len(resp.body) == n
    else:
        resp.body = rfile.read()
    return resp


def _read_fields(rfile, head):
    fields = []
    while True:
        line = rfile.readline(65537)
        head.append(line)
        if line in (b"\r\n", b""):
            return fields
        if not line.endswith(b"\r\n"):
            raise ValueError(f"header line not ended by CRLF: {line!r}")
        name, sep, value = line[:-2].partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line: {line!r}")
        fields.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))


def _read_exact(rfile, n):
    parts = []
    while n > 0:
        data = rfile.read(n)
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


def _read_chunked(rfile):
    parts = []
    while True:
        line = rfile.readline(65537)
        if not line:
            return b"".join(parts), False
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            _read_fields(rfile, [])
            return b"".join(parts), True
        data = _read_exact(rfile, size)
        parts.append(data)
        if len(data) < size or rfile.read(2) != b"\r\n":
            return b"".join(parts), False


def recv_until_closed(sock, timeout=10.0):
    """Read from ``sock`` until the peer closes it; fail if it stays open."""
    deadline = time.monotonic() + timeout
    parts = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("connection was not closed by the server")
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return b"".join(parts)
        except socket.timeout:
            raise AssertionError(
                f"connection was not closed by the server; got {b''.join(parts)[:300]!r}"
            ) from None
        if not data:
            return b"".join(parts)
        parts.append(data)


def http_get(address, path="/", timeout=10.0):
    if isinstance(address, tuple):
        conn = http.client.HTTPConnection(*address, timeout=timeout)
    else:
        conn = UnixHTTPConnection(address, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def raw_request(server, data, timeout=10.0):
    sock = server.connect(timeout)
    try:
        sock.sendall(data)
        return recv_until_closed(sock, timeout)
    finally:
        sock.close()


def get_in_thread(server, path, results, key, barrier=None, timeout=20):
    """Start a thread that waits at ``barrier`` (if given), then GETs ``path``."""
    def run():
        if barrier is not None:
            barrier.wait()
        try:
            results[key] = server.get(path, timeout=timeout)
        except Exception as exc:  # reported by the test
            results[key] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_readable(sock, timeout=10.0):
    """Return once ``sock`` has bytes (or EOF) to read; read nothing."""
    if not select.select([sock], [], [], timeout)[0]:
        raise AssertionError("nothing arrived within %.1f s" % timeout)


ADMIN_RE = re.compile(r"Admin listener at: (\S+)")


def admin_url(srv, timeout=10.0):
    return srv.wait_for_log(ADMIN_RE, timeout).group(1)


def admin_get(srv, path, timeout=10.0):
    """``(status, body text)`` of an admin page."""
    host, port = admin_url(srv)[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()
