"""What stands before the HTTP parser in a worker: PROXY header, proxies.

``ConnectionFront`` is mixed into ``Worker`` (it uses its ``bases``,
``_readable``, ``_drain`` and ``_drop``). ``_boot_front(cfg)`` builds, once per
worker, the forwarded-header ``rewrite`` (``proxy.Rewriter``), the PROXY
protocol allow list, and ``steps``: the loop state -> method table
``_readable`` dispatches on for every state but ``HEAD`` and ``IDLE``.
``_open(conn)`` gives a new connection its first state: ``PROXY_HEADER``
(False, to be dropped at once, when its peer is not in ``proxy-allow-ips``),
else ``HEAD``. A step only reads what is there and never blocks the loop;
``header-timeout`` (counted from the accept) bounds it, through the worker's
deadline sweep. A failed step closes the connection with a log line, without
an HTTP answer.
"""

import logging

from appserver import proxy
from appserver.connection import CLOSING, HEAD, PROXY_HEADER
from appserver.proxy_protocol import ProxyProtocolError

log = logging.getLogger("appserver")


class ConnectionFront:
    """Mixed into ``Worker``; see the module comment."""

    def _boot_front(self, cfg):
        self.rewrite = proxy.Rewriter(cfg)
        self.proxy_peers = (proxy.AllowList(cfg.proxy_allow_ips)
                            if cfg.proxy_protocol else None)
        self.steps = {CLOSING: self._drain, PROXY_HEADER: self._proxy_header}

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
        """After any PROXY header: the request head."""
        conn.state = HEAD
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


def _peer(conn):
    return "%s:%s" % conn.peer[:2] if conn.peer else "unix"
