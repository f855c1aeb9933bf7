"""Request ids: keep a trusted proxy's ``X-Request-ID`` or make a new one.

``RequestIds(trusted)`` takes the ``forwarded-allow-ips`` allow list
(``proxy.AllowList``: ``host in trusted``, unix-socket peers included);
``choose(value, host)`` returns the id a request keeps: the client's
``X-Request-ID`` when its peer is trusted and the value is 1..200 visible
ASCII characters, else a new one (32 hex digits from a per-process generator,
reseeded after fork: cheap, no system call).
"""

import os
import random
import re

_VALID = re.compile(r"[\x21-\x7e]{1,200}\Z")
_rng = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rng.seed)


def new_id():
    """A new request id: 128 random bits as 32 hex digits."""
    return _rng.getrandbits(128).to_bytes(16, "big").hex()


class RequestIds:
    """Keep a trusted peer's request id, or make a new one."""

    def __init__(self, trusted):
        self.trusted = trusted

    def choose(self, value, host):
        if value is not None and host in self.trusted and _VALID.match(value):
            return value
        return new_id()
