"""Server hooks: functions of a Python config file, called at fixed points.

``HOOKS`` maps each hook name to its arguments (Gunicorn's names and
arguments; docs/observability.md says when each runs). ``pick(namespace,
path)`` returns the hooks a config file defines and raises ``ConfigError`` for
a hook that is not callable or cannot take its arguments, and for a function
of the file whose name is close to a hook's but is none (``post_fok``).
``call(hooks, name, *args)`` runs a hook if it is defined: an exception is
logged with its traceback and swallowed, so a failing hook is never fatal.
``call_strict`` logs it and raises ``HookFailed``, for the two hooks whose
failure is meant to stop something (``on_starting``: the start, exit code 1;
``post_worker_init``: that worker's boot, counted as a boot failure).
"""

import logging
import types

from appserver.errors import AppServerError, ConfigError

log = logging.getLogger("appserver")

HOOKS = {
    "on_starting": ("server",),
    "on_reload": ("server",),
    "when_ready": ("server",),
    "pre_fork": ("server", "worker"),
    "post_fork": ("server", "worker"),
    "post_worker_init": ("worker",),
    "worker_int": ("worker",),
    "worker_abort": ("worker",),
    "pre_exec": ("server",),
    "pre_request": ("worker", "req"),
    "post_request": ("worker", "req", "environ", "resp"),
    "child_exit": ("server", "worker"),
    "worker_exit": ("server", "worker"),
    "nworkers_changed": ("server", "new_value", "old_value"),
    "on_exit": ("server",),
}
CONFIG_MODULE = "__appserver_config__"     # run_name of a config file


def pick(namespace, path):
    """``{name: function}`` for the hooks in a config file's namespace."""
    hooks = {}
    for name, value in namespace.items():
        if name in HOOKS:
            _check(name, value, path)
            hooks[name] = value
        elif (isinstance(value, types.FunctionType)
              and value.__module__ == CONFIG_MODULE and not name.startswith("_")):
            import difflib                  # error messages only
            close = difflib.get_close_matches(name, list(HOOKS), n=1, cutoff=0.85)
            if close:
                raise ConfigError("config file %s defines %s(), which is no server "
                                  "hook; did you mean %s? (rename a helper to start "
                                  "with '_')" % (path, name, close[0]))
    return hooks


def _check(name, value, path):
    import inspect                      # only for a config that sets hooks
    signature = "%s(%s)" % (name, ", ".join(HOOKS[name]))
    if not callable(value):
        raise ConfigError("config file %s: hook %s must be a function, got %r"
                          % (path, name, value))
    try:
        inspect.signature(value).bind(*HOOKS[name])
    except TypeError:
        raise ConfigError("config file %s: hook %s cannot be called as %s"
                          % (path, name, signature)) from None
    except ValueError:
        pass                                # no signature to check (a builtin)


def call(hooks, name, *args):
    """Run hook ``name`` if defined; log (not raise) what it raises."""
    hook = hooks.get(name) if hooks else None
    if hook is None:
        return None
    try:
        return hook(*args)
    except Exception:
        log.exception("Hook %s failed (ignored)", name)
        return None


class HookFailed(AppServerError):
    """A hook whose failure stops something raised (already logged)."""


def call_strict(hooks, name, *args):
    """Run hook ``name`` if defined; log its exception and raise ``HookFailed``."""
    hook = hooks.get(name) if hooks else None
    if hook is None:
        return None
    try:
        return hook(*args)
    except Exception as exc:
        log.exception("Hook %s failed", name)
        raise HookFailed("hook %s failed: %s: %s" % (name, type(exc).__name__, exc)) \
            from None
