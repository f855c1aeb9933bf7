"""A connection before its first request: the PROXY header and TLS.

``Connection`` (``appserver.connection``) takes ``FrontIO`` in. In the worker
loop and without blocking it, a connection may first have to pass
``read_proxy_header()`` (PROXY protocol; reads exactly the header, nothing
after it) and ``handshake()`` after ``start_tls()``. With TLS, ``fill()``
reads through ``_recv_tls`` without blocking (a partial record must not stall
the loop), and timeouts are Python-level (``io_timeouts``). The ``ssl``
module is imported by the TLS paths only (``appserver.tls``).
"""

import socket

from appserver import proxy_protocol
from appserver.tls import ssl_module

RECV_SIZE = 65536


class FrontIO:
    """Mixed into ``Connection`` (it has ``sock``, ``tls``, ``preface`` and
    ``_set_timeout``); see the module comment."""

    __slots__ = ()

    def _recv_tls(self):
        """What a TLS socket has; ``BlockingIOError`` when a record is partial."""
        ssl = ssl_module()
        self._set_timeout(0.0)
        try:
            return self.sock.recv(RECV_SIZE)
        except (socket.timeout, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise BlockingIOError from None

    def read_proxy_header(self):
        """A ``ProxyHeader`` once complete, else None; never reads past it.

        Raises ``ProxyProtocolError`` (also when the peer closes first) or
        ``OSError``.
        """
        data = self.sock.recv(proxy_protocol.MAX_LENGTH, socket.MSG_PEEK)
        if not data:
            raise proxy_protocol.ProxyProtocolError("closed before a PROXY header")
        result = proxy_protocol.parse(self.preface + data)
        take = len(data) if result is proxy_protocol.NEED_DATA \
            else result[1] - len(self.preface)
        while take:                     # peeked bytes are there: no waiting
            chunk = self.sock.recv(take)
            if not chunk:
                raise proxy_protocol.ProxyProtocolError("closed in a PROXY header")
            self.preface += chunk
            take -= len(chunk)
        if result is proxy_protocol.NEED_DATA:
            return None
        self.preface = b""
        return result[0]

    def start_tls(self, context):
        """Wrap the socket; ``handshake()`` is then driven by the worker loop."""
        self.sock = context.wrap_socket(self.sock, server_side=True,
                                        do_handshake_on_connect=False)
        self.tls = True

    def handshake(self):
        """Advance the TLS handshake without blocking.

        Returns None when done, ``"read"`` or ``"write"`` for what it waits
        on; raises ``OSError`` (``ssl.SSLError``) when it fails.
        """
        ssl = ssl_module()
        self._set_timeout(0.0)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            return "read"
        except ssl.SSLWantWriteError:
            return "write"
        return None
