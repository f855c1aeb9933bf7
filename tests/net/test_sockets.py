"""Unit tests for appserver.net.sockets: binding, inheriting and closing listeners.

Real sockets only: TCP on 127.0.0.1 and [::1] (skipped without IPv6), unix
sockets in tmp_path (stale file replaced, regular file or live server in the
way refused), ``fd://N`` inheritance, error messages (EADDRINUSE,
EADDRNOTAVAIL, bad host, long path), cleanup of a half-done ``bind_all``,
``close_all`` unlinking only the paths it owns, and the socket options the
contract promises (non-blocking, close-on-exec, SO_REUSEADDR, V6ONLY).
"""
import errno
import gc
import os
import select
import socket
import time
import warnings

import pytest

from appserver.net import sockets
from appserver.errors import BindError


def _has_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")


@pytest.fixture
def bound():
    """bind(addresses) -> listeners, all closed at the end of the test."""
    made = []

    def bind(addresses, backlog=16):
        listeners = sockets.bind_all(addresses, backlog)
        made.extend(listeners)
        return listeners

    yield bind
    sockets.close_all(made)


def _roundtrip(listener):
    """Connect a client, accept it, and pass one byte: the socket really listens."""
    family = listener.sock.family
    target = listener.address if family != socket.AF_INET6 else listener.address[:2]
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(target)
        listener.sock.settimeout(5)       # accept() on a non-blocking socket
        try:
            conn, _ = listener.sock.accept()
        finally:
            listener.sock.setblocking(False)
        with conn:
            client.sendall(b"x")
            conn.settimeout(5)
            assert conn.recv(1) == b"x"


def _assert_listener_socket(listener):
    sock = listener.sock
    assert sock.getblocking() is False
    assert os.get_inheritable(sock.fileno()) is False
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    assert listener.fileno() == sock.fileno()


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_listener_accept_matches_socket_accept(bound, tmp_path, kind):
    address = ("tcp", "127.0.0.1", 0) if kind == "tcp" else ("unix", str(tmp_path / "a.sock"))
    [listener] = bound([address])
    family = listener.sock.family
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(listener.address)
        client.sendall(b"x")            # a TCP listener hands it over once bytes came
        assert select.select([listener.sock], [], [], 5)[0]
        conn, peer = listener.accept()
        try:
            assert (conn.family, conn.type, conn.proto) == (family, socket.SOCK_STREAM, 0)
            assert peer == (client.getsockname() if kind == "tcp" else "")
            assert conn.gettimeout() is None and conn.getblocking() is True
            assert os.get_inheritable(conn.fileno()) is False
            assert conn.recv(1) == b"x"
        finally:
            conn.close()
    with pytest.raises(BlockingIOError):
        listener.accept()


# -- TCP -----------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(socket, "TCP_DEFER_ACCEPT"), reason="Linux only")
def test_tcp_listener_hands_a_connection_over_once_its_first_bytes_came(bound):
    """TCP_DEFER_ACCEPT: a client that spoke is accepted before an earlier
    one that has sent nothing; the silent one is accepted too, later."""
    [listener] = bound([("tcp", "127.0.0.1", 0)])
    assert listener.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) \
        == sockets.DEFER_ACCEPT
    listener.sock.settimeout(sockets.DEFER_ACCEPT + 10)
    opened = time.monotonic()
    with socket.create_connection(listener.address, timeout=5) as silent, \
            socket.create_connection(listener.address, timeout=5) as talking:
        talking.sendall(b"GET")
        first, first_peer = listener.sock.accept()
        second, second_peer = listener.sock.accept()
        with first, second:
            if first_peer != talking.getsockname():     # only once its time was up
                assert time.monotonic() - opened >= sockets.DEFER_ACCEPT
                first, second = second, first
            assert first.recv(3) == b"GET"
            assert second.getpeername() == silent.getsockname()
            assert time.monotonic() - opened >= sockets.DEFER_ACCEPT



def test_tcp_ipv4_port_zero_binds_a_real_listener(bound):
    [listener] = bound([("tcp", "127.0.0.1", 0)])
    assert listener.kind == "tcp"
    host, port = listener.address
    assert host == "127.0.0.1" and port > 0
    assert listener.owned_path is None
    assert listener.url() == "http://127.0.0.1:%d" % port
    _assert_listener_socket(listener)
    assert listener.sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    _roundtrip(listener)


@needs_ipv6
def test_tcp_ipv6_loopback(bound):
    [listener] = bound([("tcp", "::1", 0)])
    assert listener.sock.family == socket.AF_INET6
    host, port = listener.address
    assert host == "::1" and port > 0
    assert listener.url() == "http://[::1]:%d" % port
    _assert_listener_socket(listener)
    assert listener.sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    assert listener.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    _roundtrip(listener)


def test_tcp_localhost_name_resolves_to_ipv4(bound):
    [listener] = bound([("tcp", "localhost", 0)])
    assert listener.sock.family == socket.AF_INET
    _roundtrip(listener)


def test_tcp_port_in_use_is_a_bind_error_with_a_hint(bound):
    [first] = bound([("tcp", "127.0.0.1", 0)])
    port = first.address[1]
    with pytest.raises(BindError) as err:
        sockets.bind_all([("tcp", "127.0.0.1", port)], 16)
    message = str(err.value)
    assert "127.0.0.1:%d" % port in message
    assert os.strerror(errno.EADDRINUSE) in message
    assert "another process is listening there" in message


def test_tcp_address_not_on_this_machine(bound):
    with pytest.raises(BindError, match=r"192\.0\.2\.1:0: .*this machine has no such address"):
        bound([("tcp", "192.0.2.1", 0)])


def test_tcp_unknown_host_name():
    with pytest.raises(BindError, match="check the host name"):
        sockets.bind_all([("tcp", "no-such-host.invalid", 0)], 16)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may bind low ports")
def test_tcp_privileged_port_hint():
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            if int(f.read()) <= 1:
                pytest.skip("unprivileged low ports allowed here")
    except OSError:
        pass
    with pytest.raises(BindError, match="ports below 1024 need privileges"):
        sockets.bind_all([("tcp", "127.0.0.1", 1)], 16)


def test_unknown_kind_is_a_bind_error():
    with pytest.raises(BindError, match="unknown bind kind"):
        sockets.bind_all([("sctp", "x")], 16)


# -- unix ----------------------------------------------------------------------

def test_unix_socket_binds_and_is_owned(bound, tmp_path):
    path = str(tmp_path / "app.sock")
    [listener] = bound([("unix", path)])
    assert listener.kind == "unix"
    assert listener.address == path
    assert listener.owned_path == path
    assert listener.url() == "unix:" + path
    assert os.path.exists(path)
    _assert_listener_socket(listener)
    _roundtrip(listener)


def _stale_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()                       # the file stays, nobody listens
    assert os.path.exists(path)


def test_unix_stale_socket_file_is_replaced(bound, tmp_path):
    path = str(tmp_path / "stale.sock")
    _stale_socket(path)
    [listener] = bound([("unix", path)])
    _roundtrip(listener)


def test_unix_regular_file_in_the_way_is_refused_and_kept(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("precious")
    with pytest.raises(BindError, match="not a socket is in the way"):
        sockets.bind_all([("unix", str(path))], 16)
    assert path.read_text() == "precious"


def test_unix_live_listener_is_refused_and_left_alone(tmp_path):
    path = str(tmp_path / "live.sock")
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(path)
    other.listen(1)
    try:
        with pytest.raises(BindError, match="another server is listening"):
            sockets.bind_all([("unix", path)], 16)
        assert os.path.exists(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)    # the other server still owns its file
    finally:
        other.close()


def test_unix_missing_directory(tmp_path):
    path = str(tmp_path / "no" / "such" / "dir.sock")
    with pytest.raises(BindError, match="cannot bind unix:.*dir.sock"):
        sockets.bind_all([("unix", path)], 16)


def test_unix_path_too_long_says_so(tmp_path):
    # regression: exc.strerror is None for this error; the message ended in ': None'
    path = str(tmp_path / ("x" * 200))
    with pytest.raises(BindError) as err:
        sockets.bind_all([("unix", path)], 16)
    assert "None" not in str(err.value)
    assert "too long" in str(err.value)


# -- fd://N --------------------------------------------------------------------

def test_fd_inherits_a_bound_tcp_socket_and_listens(bound):
    original = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    original.bind(("127.0.0.1", 0))     # bound but not listening yet
    port = original.getsockname()[1]
    fd = original.detach()
    os.set_inheritable(fd, True)        # as a parent (systemd, old arbiter) passes it
    [listener] = bound([("fd", fd)])
    assert listener.kind == "tcp"
    assert listener.fileno() == fd
    assert listener.address == ("127.0.0.1", port)
    assert listener.owned_path is None
    _assert_listener_socket(listener)   # now listening, non-blocking, close-on-exec
    if hasattr(socket, "TCP_DEFER_ACCEPT"):     # as it came: systemd's DeferAcceptSec=
        assert listener.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) == 0
    _roundtrip(listener)


def test_fd_inherits_a_unix_socket_without_owning_its_path(tmp_path):
    path = str(tmp_path / "inherited.sock")
    original = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    original.bind(path)
    original.listen(4)
    fd = original.detach()
    [listener] = sockets.bind_all([("fd", fd)], 16)
    try:
        assert listener.kind == "unix"
        assert listener.address == path
        assert listener.owned_path is None
        _assert_listener_socket(listener)
        _roundtrip(listener)
    finally:
        sockets.close_all([listener])
    assert os.path.exists(path), "close_all removed a socket file it does not own"


def test_fd_that_is_not_a_socket():
    r, w = os.pipe()
    try:
        with pytest.raises(BindError, match=r"fd://%d: .*is the descriptor open and a "
                           r"socket" % r):
            sockets.bind_all([("fd", r)], 16)
    finally:
        os.close(r)
        os.close(w)


def test_fd_that_is_closed():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(BindError, match="fd://%d" % r):
        sockets.bind_all([("fd", r)], 16)


def test_fd_datagram_socket_is_refused():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fd = udp.detach()
    with warnings.catch_warnings():
        # the refused fd is wrapped by a socket object that closes it when freed
        warnings.simplefilter("ignore", ResourceWarning)
        with pytest.raises(BindError, match="fd://%d: not a stream socket" % fd) as err:
            sockets.bind_all([("fd", fd)], 16)
        del err
        gc.collect()


# -- bind_all / close_all ------------------------------------------------------

def test_bind_all_keeps_order_of_addresses(bound, tmp_path):
    path = str(tmp_path / "a.sock")
    listeners = bound([("unix", path), ("tcp", "127.0.0.1", 0)])
    assert [listener.kind for listener in listeners] == ["unix", "tcp"]


def test_bind_all_failure_closes_and_unlinks_what_it_opened(tmp_path, monkeypatch):
    good = str(tmp_path / "good.sock")
    blocker = tmp_path / "file"
    blocker.write_text("")
    opened = []
    real_bind_one = sockets._bind_one

    def spy(address, backlog):
        listener = real_bind_one(address, backlog)
        opened.append(listener)
        return listener

    monkeypatch.setattr(sockets, "_bind_one", spy)
    with pytest.raises(BindError, match="not a socket is in the way"):
        sockets.bind_all([("unix", good), ("tcp", "127.0.0.1", 0),
                          ("unix", str(blocker))], 16)
    assert len(opened) == 2
    assert all(listener.sock.fileno() == -1 for listener in opened), "a socket was left open"
    assert not os.path.exists(good), "the socket file bind_all created was left"


def test_close_all_unlinks_owned_paths_only_when_asked(tmp_path):
    a, b = str(tmp_path / "a.sock"), str(tmp_path / "b.sock")
    [la] = sockets.bind_all([("unix", a)], 16)
    [lb] = sockets.bind_all([("unix", b)], 16)
    sockets.close_all([la])
    assert la.sock.fileno() == -1 and not os.path.exists(a)
    sockets.close_all([lb], unlink=False)          # e.g. handing over to a new arbiter
    assert lb.sock.fileno() == -1 and os.path.exists(b)


def test_close_all_tolerates_already_removed_file(tmp_path):
    path = str(tmp_path / "gone.sock")
    [listener] = sockets.bind_all([("unix", path)], 16)
    os.unlink(path)
    sockets.close_all([listener])                   # no exception
    assert listener.sock.fileno() == -1


def test_listener_url_formats():
    assert sockets.Listener(None, "tcp", ("10.0.0.1", 80)).url() == "http://10.0.0.1:80"
    assert sockets.Listener(None, "tcp", ("::1", 8000, 0, 0)).url() == "http://[::1]:8000"
    assert sockets.Listener(None, "unix", "/run/a.sock").url() == "unix:/run/a.sock"


@pytest.mark.parametrize("code,words", [
    (errno.EADDRINUSE, "another process is listening there"),
    (errno.EACCES, "ports below 1024 need privileges"),
    (errno.EADDRNOTAVAIL, "this machine has no such address"),
    (errno.ECONNREFUSED, None),
])
def test_bind_error_hints(code, words):
    # the EACCES case cannot be provoked for real when the tests run as root
    hint = sockets._hint(OSError(code, os.strerror(code)))
    assert (hint == "") if words is None else (words in hint)
