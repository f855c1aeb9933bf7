"""Server hooks: functions of a Python config file, called at fixed points.

``HOOKS`` maps each hook name to its arguments (Gunicorn's names and
arguments; docs/observability.md says when each runs). ``pick(namespace,
path)`` returns the hooks a config file defines and raises ``ConfigError`` for
a hook that is not callable or cannot take its arguments, and for a function
of the file whose name is close to a hook's but is none (``post_fok``).
``call(hooks, name, *args)`` runs a hook if it is defined, with Gunicorn's
objects (``appserver.config.hook_views``: ``server``, ``worker``; the request hooks
go through ``pre_request`` and ``post_request``, which add ``req`` and
``resp``): an exception is logged with its traceback and swallowed, so a
failing hook is never fatal. ``post_request`` may take 2, 3 or 4 arguments,
as with Gunicorn.
``call_strict`` logs it and raises ``HookFailed``, for the two hooks whose
failure is meant to stop something (``on_starting``: the start, exit code 1;
``post_worker_init``: that worker's boot, counted as a boot failure).
"""
from __future__ import annotations

import logging
import types
from typing import Any, Callable, Dict, Mapping, Optional

from appserver.config import hook_views
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
    "ssl_context": ("config", "default_ssl_context_factory"),
}
CONFIG_MODULE = "__appserver_config__"     # run_name of a config file

# ``cfg.hooks``: the config file's hooks by name.
Hooks = Mapping[str, Callable[..., Any]]


def pick(namespace: Mapping[str, Any], path: str) -> Dict[str, Callable[..., Any]]:
    """``{name: function}`` for the hooks in a config file's namespace."""
    hooks: Dict[str, Callable[..., Any]] = {}
    for name, value in namespace.items():
        if name in HOOKS:
            hooks[name] = _check(name, value, path)
        elif (isinstance(value, types.FunctionType)
              and value.__module__ == CONFIG_MODULE and not name.startswith("_")):
            import difflib                  # error messages only
            close = difflib.get_close_matches(name, list(HOOKS), n=1, cutoff=0.85)
            if close:
                raise ConfigError("config file %s defines %s(), which is no server "
                                  "hook; did you mean %s? (rename a helper to start "
                                  "with '_')" % (path, name, close[0]))
    return hooks


def _check(name: str, value: Any, path: str) -> Callable[..., Any]:
    """The hook to call: ``value``, or for a ``post_request`` taking fewer
    arguments, a function passing it only those (as Gunicorn does)."""
    import inspect                      # only for a config that sets hooks
    signature = "%s(%s)" % (name, ", ".join(HOOKS[name]))
    if not callable(value):
        raise ConfigError("config file %s: hook %s must be a function, got %r"
                          % (path, name, value))
    arities = (2, 3, 4) if name == "post_request" else (len(HOOKS[name]),)
    for arity in arities:
        try:
            inspect.signature(value).bind(*HOOKS[name][:arity])
        except TypeError:
            continue
        except ValueError:
            return value                    # no signature to check (a builtin)
        return value if arity == len(HOOKS[name]) else _first(value, arity)
    raise ConfigError("config file %s: hook %s cannot be called as %s"
                      % (path, name, signature))


def _first(function: Callable[..., Any], arity: int) -> Callable[..., Any]:
    def hook(*args: Any) -> Any:
        return function(*args[:arity])
    return hook


def call(hooks: Optional[Hooks], name: str, *args: Any) -> Any:
    """Run hook ``name`` if defined; log (not raise) what it raises."""
    if name == "pre_fork":
        hook_views.spawned(args[1].index)
    hook = hooks.get(name) if hooks else None
    if hook is None:
        return None
    try:
        return hook(*hook_views.views(HOOKS[name], args))
    except Exception:
        log.exception("Hook %s failed (ignored)", name)
        return None


def pre_request(hooks: Optional[Hooks], worker: Any, request: Any,
                environ: Dict[str, Any]) -> None:
    """The ``pre_request`` hook, with Gunicorn's ``req``."""
    call(hooks, "pre_request", worker, hook_views.RequestView(request, environ))


def post_request(hooks: Optional[Hooks], worker: Any, request: Any, environ: Dict[str, Any],
                 response: Any) -> None:
    """The ``post_request`` hook, with Gunicorn's ``req`` and ``resp``."""
    req = hook_views.RequestView(request, environ)
    worker = hook_views.WorkerView(worker, running=1)   # nr counts this one
    call(hooks, "post_request", worker, req, environ,
         hook_views.ResponseView(response, req))


class HookFailed(AppServerError):
    """A hook whose failure stops something raised (already logged)."""


def call_strict(hooks: Optional[Hooks], name: str, *args: Any) -> Any:
    """Run hook ``name`` if defined; log its exception and raise ``HookFailed``."""
    hook = hooks.get(name) if hooks else None
    if hook is None:
        return None
    try:
        return hook(*hook_views.views(HOOKS[name], args))
    except Exception as exc:
        log.exception("Hook %s failed", name)
        raise HookFailed("hook %s failed: %s: %s" % (name, type(exc).__name__, exc)) \
            from None
