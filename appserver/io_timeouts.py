"""How long a connection's blocking calls may wait: the socket timeouts.

``Connection`` (``appserver.connection``) takes ``BoundedIO`` in. A plain
socket stays blocking at the Python level: CPython polls before every call on
a socket with a timeout, two extra system calls per request. The timeouts are
the kernel's (``SO_RCVTIMEO`` for ``read-timeout``, ``SO_SNDTIMEO`` for
``send-timeout``), so a blocked call fails with ``EAGAIN`` once the client has
sent or accepted nothing for that long; ``prepare_listener`` sets them, and
``TCP_NODELAY``, once on a TCP listener, whose accepted sockets inherit them.
A signal that interrupts a blocked call restarts its kernel timeout, and a
busy worker's handoff timer ticks every few milliseconds: ``_blocking_for``
records the bound of each blocking call (restarted on progress) and ``overdue(now)``
gives the error the worker's tick raises into a call past it. TLS sockets use
Python-level timeouts (``_set_timeout``; an ``SSLSocket`` cannot tell a kernel
timeout from a record still in flight); CPython keeps their deadline across
signals.
The errors: ``ClientError`` (the client went away or stopped), its
``ClientTimeout`` and ``BodyTimeout``.
"""

import socket
import struct
import time

_SO_RCVTIMEO, _SO_SNDTIMEO = socket.SO_RCVTIMEO, socket.SO_SNDTIMEO


class ClientError(OSError):
    """The client went away or stopped reading or sending: nobody to answer."""


class ClientTimeout(ClientError):
    """The client stopped sending or receiving for longer than allowed."""


class BodyTimeout(ClientTimeout):
    """The client stopped sending its request body (``read-timeout``)."""


class BoundedIO:
    """Mixed into ``Connection`` (it has ``sock``, ``tls``, ``read_timeout``,
    ``send_timeout``, ``_timeout``, ``_kernel``, ``blocked_until`` and
    ``_blocked_on``); see the module comment."""

    __slots__ = ()

    def _blocking_for(self, option, seconds):
        """Ready the socket for a blocking call bounded by ``seconds``, and
        start its bound (again, after progress). On a plain socket the bound
        is also recorded in ``blocked_until``, for ``overdue``; the caller
        resets it to 0 after the call."""
        if self.tls:
            self._set_timeout(seconds)
            return
        if not self._kernel & option:
            self.sock.setsockopt(socket.SOL_SOCKET, option, _timeval(seconds))
            self._kernel |= option
        self.blocked_until = time.monotonic() + seconds
        self._blocked_on = option

    def _set_timeout(self, timeout):
        """The Python-level timeout of a TLS socket (0.0: non-blocking)."""
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def overdue(self, now):
        """The timeout error of the blocking call under way once it has waited
        longer than its bound, else None."""
        if not self.blocked_until or now < self.blocked_until:
            return None
        if self._blocked_on == _SO_RCVTIMEO:
            return self._body_timeout()
        return self._send_timeout()

    def _body_timeout(self):
        return BodyTimeout("client sent no body bytes for %s s (read-timeout)"
                           % self.read_timeout)

    def _send_timeout(self):
        return ClientTimeout("client read nothing for %s s (send-timeout)"
                             % self.send_timeout)


def _timeval(seconds):
    """``seconds`` as the ``struct timeval`` socket options take."""
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


def prepare_listener(listener, read_timeout, send_timeout):
    """Set on a TCP listening socket what every accepted socket inherits
    from it on Linux (``TCP_NODELAY`` and the kernel timeouts): no system
    call per connection for them. Returns the ``inherited`` bits to give
    each ``Connection`` accepted from it (0 for a unix socket, whose
    accepted sockets inherit nothing)."""
    if listener.kind != "tcp":
        return 0
    sock = listener.sock
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVTIMEO, _timeval(read_timeout))
    sock.setsockopt(socket.SOL_SOCKET, _SO_SNDTIMEO, _timeval(send_timeout))
    return _SO_RCVTIMEO | _SO_SNDTIMEO
