"""Static files answered by the worker's loop, without the app.

``paths`` maps URL prefixes to directories and resolves a request path
safely; ``reply`` decides the response (status, head, file and range).
Neither touches a socket: the connection sends the ``Reply``.
``from_settings(cfg)`` builds a worker's ``StaticFiles`` from the ``static*``
settings (None when there are no mounts), or raises the ``ConfigError`` a
start stops with.
"""

import os

from appserver.errors import ConfigError
from appserver.static.paths import Mount, NotFound, parse_mount  # noqa: F401
from appserver.static.reply import Reply, StaticFiles  # noqa: F401


def from_settings(cfg):
    """The ``StaticFiles`` of ``cfg.static`` (each ``URL_PREFIX=DIR``), or None."""
    if not cfg.static:
        return None
    mounts = [parse_mount(value, cfg.static_follow_symlinks) for value in cfg.static]
    for mount in mounts:
        if not os.path.isdir(mount.directory):
            raise ConfigError(
                "static: %s=%s: no such directory (from %s); create it (for Django, "
                "run 'manage.py collectstatic' with STATIC_ROOT there) or fix the path"
                % (mount.prefix, mount.directory, cfg.source("static")))
    seen = set()
    for mount in mounts:
        if mount.prefix in seen:
            raise ConfigError("static: the prefix %s is given twice" % mount.prefix)
        seen.add(mount.prefix)
    return StaticFiles(mounts, cfg.static_max_age, cfg.static_fallback)
