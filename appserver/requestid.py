"""Request ids, and which peers are trusted to send one.

``trusted_networks(text)`` parses ``forwarded-allow-ips`` (comma-separated IP
addresses and CIDR networks, or ``*``) into a ``Trusted`` predicate:
``trusted(host)`` is True for an address in one of the networks, for a unix
socket peer (``""``: only local processes can connect) and for any peer with
``*``. Answers are cached per address (peers repeat: a proxy, a load
balancer). A malformed entry raises ``ConfigError``.

``RequestIds(trusted)``: ``choose(value, host)`` returns the id a request
keeps: the client's ``X-Request-ID`` when its peer is trusted and the value
is 1..200 visible ASCII characters, else a new one (32 hex digits from a
per-process generator, reseeded after fork: cheap, no system call).
"""

import ipaddress
import os
import random
import re

from appserver.errors import ConfigError

_VALID = re.compile(r"[\x21-\x7e]{1,200}\Z")
_CACHE_LIMIT = 4096
_rng = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rng.seed)


def new_id():
    """A new request id: 128 random bits as 32 hex digits."""
    return _rng.getrandbits(128).to_bytes(16, "big").hex()


class Trusted:
    """Is a peer's address (``""`` for a unix socket peer) trusted?"""

    def __init__(self, networks, everyone=False):
        self.networks = tuple(networks)
        self.everyone = everyone
        self._cache = {}

    def __call__(self, host):
        if self.everyone or not host:
            return True
        known = self._cache.get(host)
        if known is None:
            known = self._lookup(host)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[host] = known
        return known

    def _lookup(self, host):
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks
                   if network.version == address.version)


def trusted_networks(text, name="forwarded-allow-ips"):
    """Parse ``127.0.0.1,::1,10.0.0.0/8`` or ``*`` into a ``Trusted``."""
    entries = [item.strip() for item in (text or "").split(",") if item.strip()]
    if "*" in entries:
        return Trusted((), everyone=True)
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError("%s: %r is not an IP address or network (expected "
                              "e.g. 127.0.0.1,::1,10.0.0.0/8 or *)" % (name, entry)) \
                from None
    return Trusted(networks)


class RequestIds:
    """Keep a trusted peer's request id, or make a new one."""

    def __init__(self, trusted):
        self.trusted = trusted

    def choose(self, value, host):
        if value is not None and self.trusted(host) and _VALID.match(value):
            return value
        return new_id()
