"""How long a connection's blocking calls may wait: the socket timeouts.

A plain socket stays blocking at the Python level: CPython polls before
every call on a socket with a timeout, two extra system calls per request.
The timeouts are the kernel's (``SO_RCVTIMEO`` for ``read-timeout``,
``SO_SNDTIMEO`` for ``send-timeout``), so a blocked call fails with
``EAGAIN`` once the client has sent or accepted nothing for that long;
``prepare_listener`` sets them, and ``TCP_NODELAY``, once on a TCP listener,
whose accepted sockets inherit them. A signal that interrupts a blocked call
restarts its kernel timeout, and a busy worker's handoff timer ticks every
few milliseconds: ``Connection`` records the bound of each blocking call and
``Connection.overdue(now)`` gives the error the tick raises into a call past
it (``appserver.worker.longcall``). TLS sockets use Python-level timeouts.

A listener bound to a loopback address (a proxy on the same host, or a
benchmark) also gives its sockets a fixed send buffer of ``LOOPBACK_SNDBUF``
(the kernel doubles it) instead of the kernel's autotuning: across loopback
the round trip is microseconds, and the megabytes autotuning grows to cost
CPU and buy no throughput. Other listeners keep autotuning: a distant client
needs the buffer to fill its round trip.

The errors: ``ClientError`` (the client went away or stopped), its
``ClientTimeout`` and ``BodyTimeout``.
"""

import ipaddress
import socket
import struct

_SO_RCVTIMEO, _SO_SNDTIMEO = socket.SO_RCVTIMEO, socket.SO_SNDTIMEO
LOOPBACK_SNDBUF = 131072    # asked for, 256 KiB in use; 512 KiB in use cost as much as autotuning


class ClientError(OSError):
    """The client went away or stopped reading or sending: nobody to answer."""


class ClientTimeout(ClientError):
    """The client stopped sending or receiving for longer than allowed."""


class BodyTimeout(ClientTimeout):
    """The client stopped sending its request body (``read-timeout``)."""


def timeval(seconds):
    """``seconds`` as the ``struct timeval`` socket options take."""
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


def _loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare_listener(listener, read_timeout, send_timeout):
    """Set on a TCP listening socket what every accepted socket inherits
    from it on Linux (``TCP_NODELAY``, the kernel timeouts, and on a loopback
    address the send buffer): no system call per connection for them.
    Returns the ``inherited`` bits to give each ``Connection`` accepted from
    it (0 for a unix socket, whose accepted sockets inherit nothing)."""
    if listener.kind != "tcp":
        return 0
    sock = listener.sock
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if _loopback(listener.address[0]):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, LOOPBACK_SNDBUF)
    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVTIMEO, timeval(read_timeout))
    sock.setsockopt(socket.SOL_SOCKET, _SO_SNDTIMEO, timeval(send_timeout))
    return _SO_RCVTIMEO | _SO_SNDTIMEO
