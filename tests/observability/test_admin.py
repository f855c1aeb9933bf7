"""The admin listener's own answers, in process over real sockets: a request
its parser refuses gets the very bytes a worker answers it with
(``http.errors.error_bytes``), a ``HEAD`` gets the head alone, and every
answer ends with the connection."""
import select
import socket

import pytest

from appserver.http.errors import BadRequest, error_bytes
from appserver.observe.admin import AdminServer, bind_admin


@pytest.fixture
def admin():
    server = AdminServer(bind_admin("127.0.0.1:0"),
                         {"/status": lambda: (200, "text/plain", b"fine\n")})
    yield server
    server.close(listener_too=True)


def exchange(admin, data):
    """Send ``data`` to the admin listener; everything it answers until it closes."""
    client = socket.create_connection(admin.listener.sock.getsockname(), timeout=5)
    client.sendall(data)        # a TCP listener hands a connection over once bytes came
    assert select.select([admin.listener.sock], [], [], 5)[0]
    admin.readable(admin.listener.fileno())            # accept
    [fd] = [fd for fd in admin.fds() if fd != admin.listener.fileno()]
    admin.readable(fd)
    answer = b""
    while True:
        chunk = client.recv(65536)
        if not chunk:
            client.close()
            return answer
        answer += chunk


def test_a_refused_request_gets_the_answer_a_worker_gives(admin):
    answer = exchange(admin, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    detail = answer.rsplit(b"\r\n\r\n", 1)[1].decode().split(": ", 1)[1].rstrip("\n")
    assert answer == error_bytes(BadRequest(detail))


def test_head_gets_the_head_alone(admin):
    get = exchange(admin, b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n")
    head = exchange(admin, b"HEAD /status HTTP/1.1\r\nHost: a\r\n\r\n")
    assert get.endswith(b"\r\n\r\nfine\n") and b"Content-Length: 5\r\n" in head
    assert head == get[:-len(b"fine\n")]
