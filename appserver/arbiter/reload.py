"""HUP: read the configuration again and, with ``preload``, the app code.

``reload_config(cfg, base_modules)`` returns ``(cfg, app, access_log)`` for the new
generation of workers, or raises ``ReloadFailed`` (its text says why) when the
new configuration or app is invalid: then the error is logged and the running
workers keep serving untouched.
``cfg`` is the running configuration; ``base_modules`` the modules loaded
before the app (kept when ``preload`` imports the app afresh).
Without ``preload`` the app is not imported here; each new worker imports it
fresh after the fork.
"""

import importlib
import logging
import sys

from appserver.app import loader, warmup
from appserver.config import loading
from appserver.net import tls
from appserver.observe import logs
from appserver.errors import AppServerError

log = logging.getLogger("appserver")


class ReloadFailed(Exception):
    """The new configuration or app is invalid; already logged."""


def reload_config(running, base_modules):
    try:
        cfg = loading.reload(running)
        loader.prepare(cfg)
        tls.check(cfg)
        warmup.parse(cfg.warmup)
    except AppServerError as exc:
        log.error("Reload failed, keeping the running configuration: %s", exc)
        raise ReloadFailed(str(exc))
    if tuple(cfg.bind) != tuple(running.bind):
        log.warning("bind changed in the new configuration; it takes effect on a "
                    "restart or a USR2 upgrade, not on HUP")
    app = None
    if cfg.preload:
        forget_modules(base_modules)
        try:
            app = loader.load_app(cfg.app)
        except AppServerError as exc:
            log.error("Reload failed, the previous workers keep serving: %s", exc)
            raise ReloadFailed(str(exc))
    try:
        access_log = logs.setup(cfg)
    except AppServerError as exc:
        log.error("Reload failed, keeping the running configuration: %s", exc)
        logs.setup(running)
        raise ReloadFailed(str(exc))
    return cfg, app, access_log


def forget_modules(keep):
    """Drop modules imported since ``keep`` was taken, so they import afresh."""
    for name in list(sys.modules):
        if name not in keep and not name.startswith("appserver"):
            del sys.modules[name]
    importlib.invalidate_caches()
