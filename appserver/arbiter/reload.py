"""HUP: read the configuration again and, with ``preload``, the app code.

``reload_config(cfg, base_modules)`` returns ``(cfg, app, access_log)`` for the new
generation of workers, or raises ``ReloadFailed`` (its text says why) when the
new configuration or app is invalid: then the error is logged and the running
workers keep serving untouched.
``cfg`` is the running configuration; ``base_modules`` the modules loaded
before the app (kept when ``preload`` imports the app afresh).
Without ``preload`` the app is not imported here; each new worker imports it
fresh after the fork.

A reload also changes the arbiter's process (``chdir``, ``sys.path``,
``env``, and the modules a preloaded app imported), which every worker
forked later inherits. ``Before`` records all of it at the HUP; when the
reload fails, at once or once its new workers cannot boot, ``restore()``
goes back to it, so the workers that keep serving are replaced, when they
crash or recycle, by workers of their own configuration and code.
"""

import importlib
import logging
import os
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
        raise ReloadFailed(str(exc)) from exc
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
            raise ReloadFailed(str(exc)) from exc
    try:
        access_log = logs.setup(cfg)
    except AppServerError as exc:
        log.error("Reload failed, keeping the running configuration: %s", exc)
        logs.setup(running)
        raise ReloadFailed(str(exc)) from exc
    return cfg, app, access_log


class Before:
    """The arbiter's running configuration and process state at a HUP."""

    def __init__(self, cfg, app, access_log, desired):
        self.cfg, self.app, self.access_log, self.desired = cfg, app, access_log, desired
        self.environ = dict(os.environ)
        self.path = list(sys.path)
        self.cwd = os.getcwd()
        self.modules = dict(sys.modules)

    def restore(self):
        """Go back to this process state: environment, path, directory, modules."""
        os.environ.clear()
        os.environ.update(self.environ)
        sys.path[:] = self.path
        try:
            os.chdir(self.cwd)
        except OSError as exc:
            log.warning("Could not go back to the directory %s: %s", self.cwd, exc)
        for name in [n for n in sys.modules if n not in self.modules]:
            del sys.modules[name]
        sys.modules.update(self.modules)
        importlib.invalidate_caches()

    def restore_logs(self):
        """Log as before the HUP (the new configuration's logs were set up)."""
        try:
            logs.setup(self.cfg)
        except AppServerError as exc:       # its files went away meanwhile
            log.error("Could not reopen the previous logs: %s", exc)


def forget_modules(keep):
    """Drop modules imported since ``keep`` was taken, so they import afresh."""
    for name in list(sys.modules):
        if name not in keep and not name.startswith("appserver"):
            del sys.modules[name]
    importlib.invalidate_caches()
