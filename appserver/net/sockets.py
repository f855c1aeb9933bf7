"""Listening sockets: bind them from ``bind`` settings, describe them, close them.

``bind_all(addresses, backlog)`` takes parsed addresses (``config.convert.parse_bind``
tuples: ``("tcp", host, port)``, ``("unix", path)``, ``("fd", n)``) and returns
``Listener`` objects holding a listening, non-blocking, close-on-exec socket
(``Listener.accept`` accepts from it).
TCP sockets get ``SO_REUSEADDR``, and on Linux ``TCP_DEFER_ACCEPT``
(``DEFER_ACCEPT`` seconds): the kernel hands a new connection over only
once its first bytes (a request head, a PROXY header, a TLS hello) are
there, so the worker reads them at once instead of waiting a loop turn, and
a client that connects and sends nothing holds no descriptor in a worker
until that time is up (then it is accepted and its header-timeout runs as
for any other). A socket inherited (``fd://``, systemd: its
``DeferAcceptSec=``) is left as it came. A unix socket path left by a dead server is
replaced, but never a regular file; a unix socket file we created is removed by
``close_all``, and gets the ``mode`` (octal string) and ``owner``
(``USER[:GROUP]``) passed to ``bind_all``: it is created with that mode (never
more open, not even for a moment), then chowned. A bad ``mode`` or ``owner``
is a ``ConfigError``; any other failure is a ``BindError`` naming the address
and what to do.
"""

import errno
import grp
import os
import pwd
import socket
import stat

from appserver.errors import BindError, ConfigError

_SOCKET_TYPE = socket.SocketType     # the C socket type socket.socket extends
DEFER_ACCEPT = 1            # seconds a new TCP connection may wait for its first bytes
_TCP_DEFER_ACCEPT = getattr(socket, "TCP_DEFER_ACCEPT", None)    # Linux only


class Listener:
    """A listening socket plus what the logs and the environ need to know."""

    __slots__ = ("sock", "kind", "address", "owned_path", "_spec")

    def __init__(self, sock, kind, address, owned_path=None):
        self.sock = sock
        self.kind = kind                # "tcp" or "unix"
        self.address = address          # (host, port) for tcp, path for unix
        self.owned_path = owned_path    # unix socket file to unlink on close
        self._spec = None               # (family, type, proto) of accepted sockets

    def accept(self):
        """``(socket, peer)`` of the next connection, as ``sock.accept()``
        returns, but cheaper per call: no enum conversions of ``family`` and
        ``type`` (about 3 µs), and the socket is the C type
        (``socket.SocketType``), without ``socket.socket``'s Python-level
        ``__init__`` and ``close`` (about 1 µs a connection; it has every
        method a connection uses, and ``ssl`` wraps it as it wraps the
        other). Raises what ``accept`` raises."""
        sock = self.sock
        if self._spec is None:
            self._spec = (int(sock.family), int(sock.type), sock.proto)
        fd, peer = sock._accept()
        try:
            return _SOCKET_TYPE(*self._spec, fd), peer
        except BaseException:
            os.close(fd)
            raise

    def url(self):
        """``http://127.0.0.1:8000``, ``http://[::1]:8000`` or ``unix:/path``."""
        if self.kind == "unix":
            return "unix:" + self.address
        host, port = self.address[:2]
        if ":" in host:
            host = "[" + host + "]"
        return "http://%s:%d" % (host, port)

    def fileno(self):
        return self.sock.fileno()


def bind_all(addresses, backlog, mode=None, owner=None):
    """Bind and listen on every address; on failure close what was opened."""
    listeners = []
    mode, owner = parse_mode(mode), parse_owner(owner)
    try:
        for address in addresses:
            if address[0] == "unix" and (mode is not None or owner is not None):
                listeners.append(_bind_unix_as(address, backlog, mode, owner))
            else:
                listeners.append(_bind_one(address, backlog))
    except BaseException:
        close_all(listeners)
        raise
    return listeners


def close_all(listeners, unlink=True):
    """Close the sockets and remove the unix socket files we created."""
    for listener in listeners:
        try:
            listener.sock.close()
        except OSError:
            pass
        if unlink and listener.owned_path:
            try:
                os.unlink(listener.owned_path)
            except OSError:
                pass


def _bind_one(address, backlog):
    kind = address[0]
    if kind == "tcp":
        return _bind_tcp(address[1], address[2], backlog)
    if kind == "unix":
        return _bind_unix(address[1], backlog)
    if kind == "fd":
        return _inherit_fd(address[1], backlog)
    raise BindError("unknown bind kind %r" % (kind,))


def _bind_tcp(host, port, backlog):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An ASCII host goes as bytes: as str it passes through the idna codec,
    # which imports unicodedata into every worker for nothing.
    node = host.encode("ascii") if host.isascii() else host
    try:
        infos = socket.getaddrinfo(node, port, family if host else 0,
                                   socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError("cannot bind %s:%s: %s (check the host name or use an "
                        "IP address)" % (host, port, exc.strerror)) from None
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError("cannot bind %s: %s%s" % (_show(host, port), exc.strerror,
                                                  _hint(exc))) from None
    if _TCP_DEFER_ACCEPT is not None:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_DEFER_ACCEPT, DEFER_ACCEPT)
    sock.setblocking(False)
    return Listener(sock, "tcp", sock.getsockname()[:2])


def _show(host, port):
    return "[%s]:%s" % (host, port) if ":" in host else "%s:%s" % (host, port)


def _hint(exc):
    if exc.errno == errno.EADDRINUSE:
        return " (another process is listening there: stop it or choose another port)"
    if exc.errno == errno.EACCES:
        return " (ports below 1024 need privileges: use a port >= 1024)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return " (this machine has no such address)"
    return ""


def _bind_unix(path, backlog):
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError("cannot bind unix:%s: %s" % (path, exc.strerror or exc)) from None
    sock.setblocking(False)
    return Listener(sock, "unix", path, owned_path=path)


def _bind_unix_as(address, backlog, mode, owner):
    """Bind a unix socket born with ``mode`` (no wider for a moment), then chown."""
    old = os.umask(0o777 & ~mode) if mode is not None else None
    try:
        listener = _bind_one(address, backlog)
    finally:
        if old is not None:
            os.umask(old)
    try:
        if mode is not None:
            os.chmod(listener.owned_path, mode)
        if owner is not None:
            os.chown(listener.owned_path, *owner)
    except OSError as exc:
        close_all([listener])
        raise BindError("cannot set the mode or owner of unix:%s: %s"
                        % (listener.address, exc.strerror)) from None
    return listener


def parse_mode(text):
    """``"660"`` -> 0o660; None stays None."""
    if text is None:
        return None
    try:
        mode = int(str(text), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise ConfigError("bind-mode: expected permissions in octal like 660, got %r"
                        % (text,))
    return mode


def parse_owner(text):
    """``"www-data:adm"``, ``"1000"``, ``":adm"`` -> ``(uid, gid)`` (-1 = keep)."""
    if not text:
        return None
    user, _, group = str(text).partition(":")
    try:
        uid = _resolve(user, lambda n: pwd.getpwnam(n).pw_uid)
    except KeyError:
        raise ConfigError("bind-owner: no such user or group: user %r does not exist "
                          "on this system" % user) from None
    try:
        gid = _resolve(group, lambda n: grp.getgrnam(n).gr_gid)
    except KeyError:
        raise ConfigError("bind-owner: no such user or group: group %r does not exist "
                          "on this system" % group) from None
    return uid, gid


def _resolve(name, lookup):
    if not name:
        return -1
    return int(name) if name.isdigit() else lookup(name)


def _remove_stale_socket(path):
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BindError("cannot bind unix:%s: %s" % (path, exc.strerror)) from None
    if not stat.S_ISSOCK(mode):
        raise BindError("cannot bind unix:%s: a file that is not a socket is in "
                        "the way; remove it or choose another path" % path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)             # nobody listens: a leftover from a dead server
    else:
        raise BindError("cannot bind unix:%s: another server is listening on it"
                        % path)
    finally:
        probe.close()


def _inherit_fd(fd, backlog):
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise BindError("cannot use fd://%d: %s (is the descriptor open and a "
                        "socket?)" % (fd, exc.strerror)) from None
    if sock.type != socket.SOCK_STREAM:
        raise BindError("cannot use fd://%d: not a stream socket" % fd)
    sock.set_inheritable(False)
    try:
        sock.listen(backlog)
    except OSError as exc:
        raise BindError("cannot listen on fd://%d: %s" % (fd, exc.strerror)) from None
    sock.setblocking(False)
    if sock.family == socket.AF_UNIX:
        return Listener(sock, "unix", sock.getsockname())
    return Listener(sock, "tcp", sock.getsockname()[:2])
