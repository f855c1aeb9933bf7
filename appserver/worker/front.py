"""What stands before the HTTP parser in a worker: PROXY header, TLS, proxies.

``ConnectionFront`` is mixed into ``Worker`` (it uses its ``bases``,
``poller``, ``_readable``, ``_drain`` and ``_drop``). ``_boot_front(cfg)``
builds, once per worker, the forwarded-header ``rewrite``
(``proxy.Rewriter.rewrite``), the TLS context (``tls.server_context``), the
PROXY protocol allow list, and ``steps``: the loop state -> method table
``_readable`` dispatches on for every state but ``HEAD`` and ``IDLE``.
``_open(conn)`` gives a new connection its first state: ``PROXY_HEADER``
(False, to be dropped at once, when its peer is not in ``proxy-allow-ips``),
else ``HANDSHAKE`` with TLS, else ``HEAD``. Each step only reads what is there
and never blocks the loop; ``header-timeout`` (counted from the accept) bounds
them all, through the worker's deadline sweep. A failed step closes the
connection with a log line, without an HTTP answer.
"""

import logging
import select

from appserver import proxy, tls
from appserver.connection import CLOSING, HANDSHAKE, HANDSHAKE_OUT, HEAD, PROXY_HEADER
from appserver.proxy_protocol import ProxyProtocolError

log = logging.getLogger("appserver")


class ConnectionFront:
    """Mixed into ``Worker``; see the module comment."""

    def _boot_front(self, cfg):
        self.rewrite = proxy.Rewriter(cfg).rewrite       # a bound method: cheaper to call
        self.tls = tls.server_context(cfg)
        self.proxy_peers = (proxy.AllowList(cfg.proxy_allow_ips)
                            if cfg.proxy_protocol else None)
        if self.tls is not None:
            for base in self.bases.values():
                base["wsgi.url_scheme"] = "https"
        self.steps = {CLOSING: self._drain, PROXY_HEADER: self._proxy_header,
                      HANDSHAKE: self._handshake, HANDSHAKE_OUT: self._handshake}

    def _open(self, conn):
        """Set a new connection's first state; False if it is refused."""
        if self.proxy_peers is not None:
            if (conn.peer[0] if conn.peer else "") not in self.proxy_peers:
                log.info("client %s: not in proxy-allow-ips; closed", _peer(conn))
                return False
            conn.state = PROXY_HEADER
            return True
        return self._start(conn)

    def _start(self, conn):
        """After any PROXY header: the TLS handshake, else the request head."""
        if self.tls is None:
            conn.state = HEAD
            return True
        try:
            conn.start_tls(self.tls)
        except OSError as exc:
            log.info("client %s: %s; closed", _peer(conn), exc)
            return False
        conn.state = HANDSHAKE
        return True

    def _proxy_header(self, conn):
        try:
            header = conn.read_proxy_header()
        except (ProxyProtocolError, OSError) as exc:
            log.info("client %s: %s; closed", _peer(conn), exc)
            self._drop(conn)
            return
        if header is None:
            return
        if header.source is not None:
            conn.peer = header.source
            conn.base = dict(conn.base, SERVER_NAME=header.dest[0],
                             SERVER_PORT=str(header.dest[1]))
        if not self._start(conn):
            self._drop(conn)
        elif conn.state == HANDSHAKE:
            self._handshake(conn)

    def _handshake(self, conn):
        """Advance a TLS handshake; wait for what it wants, never blocking."""
        try:
            want = conn.handshake()
        except OSError as exc:
            log.info("client %s: TLS handshake failed: %s", _peer(conn), exc)
            self._drop(conn)
            return
        state = HEAD if want is None else HANDSHAKE_OUT if want == "write" else HANDSHAKE
        if (state == HANDSHAKE_OUT) != (conn.state == HANDSHAKE_OUT):
            out = state == HANDSHAKE_OUT
            self.poller.modify(conn.fd, select.EPOLLOUT if out else select.EPOLLIN)
        conn.state = state
        if state == HEAD:
            self._readable(conn)        # the request may have come with it


def _peer(conn):
    return "%s:%s" % conn.peer[:2] if conn.peer else "unix"
