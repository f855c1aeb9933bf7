"""TLS connections cannot move to another worker: when their worker retires
(HUP here), an idle one ends with a TLS close_notify (the client reads a
clean end of stream, not a truncated one), and one whose request has
arrived gets its answer with ``Connection: close``. Plain connections of the
same server move on (tests/supervision/test_sv_connections.py)."""
import os
import signal
import ssl

import pytest

from .test_tls import client_context, tls_server

pytestmark = pytest.mark.timeout(60)
GET = b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"


def _response(rfile):
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = rfile.readline()
        assert line, "connection closed before a response"
        head += line
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    return head, rfile.read(length)


def test_a_retiring_worker_ends_idle_tls_with_close_notify(serve, certs):
    server = tls_server(serve, certs)
    context = client_context(certs)
    sock = context.wrap_socket(server.connect(), server_hostname="localhost",
                               suppress_ragged_eofs=False)     # tell the two apart
    rfile = sock.makefile("rb")
    sock.sendall(GET)
    head, _ = _response(rfile)
    assert b"200 OK" in head and b"connection: close" not in head.lower()
    mark = len(server.log())
    os.kill(server.proc.pid, signal.SIGHUP)
    server.proc.wait_for_log(r"Worker \d+ exited", after=mark)
    try:
        assert rfile.read() == b""          # close_notify: a clean end
    except ssl.SSLEOFError as exc:          # a bare TCP close: truncated
        pytest.fail("the TLS connection ended without close_notify: %s" % exc)
    sock.close()
    again = context.wrap_socket(server.connect(), server_hostname="localhost")
    again.sendall(GET)
    assert b"200 OK" in _response(again.makefile("rb"))[0]   # the new worker serves
    again.close()
