"""Find and load the WSGI application named on the command line.

``prepare(cfg)`` sets up the process the way the app expects: ``chdir``, the
current directory first on ``sys.path`` (as ``python -m`` does), then the
``pythonpath`` entries before it, and the ``env`` pairs in ``os.environ``.
``find(spec)`` checks the spec and finds its top-level module without
importing it. ``load_app(spec)`` imports and returns the callable for ``pkg.mod:name``,
``pkg.mod:a.b``, ``pkg.mod`` (its ``application``, else its ``app``) or
``pkg.mod:factory(literal, args)``. Every failure is an ``AppLoadError`` whose
message says which case it is: bad spec, module not found (with the paths
searched), the module's own import failed (with its traceback), attribute
missing (with the module's public callables), factory failed, not callable.
"""

import ast
import importlib
import importlib.util
import os
import sys
import traceback
import types
from typing import NamedTuple, Optional, Tuple

from appserver.errors import AppLoadError, ConfigError

_FORMS = ("expected MODULE, MODULE:NAME, MODULE:NAME.ATTR or "
          "MODULE:FACTORY(literal arguments), e.g. 'myproj.wsgi' or 'pkg.mod:app'")
_DEFAULT_NAMES = ("application", "app")


class AppSpec(NamedTuple):
    """A parsed app spec: ``pkg.mod:factory(1, debug=True)``."""

    module: str                     # "pkg.mod"
    attrs: Tuple[str, ...]          # ("factory",); () means application/app
    call: Optional[tuple]           # ((1,), {"debug": True}), or None


def prepare(cfg):
    """Apply ``chdir``, ``sys.path`` (cwd, ``pythonpath``) and ``env`` from ``cfg``."""
    if cfg.chdir:
        try:
            os.chdir(cfg.chdir)
        except OSError as err:
            raise ConfigError("chdir: cannot change to directory %r: %s (from %s)"
                              % (cfg.chdir, err.strerror, cfg.source("chdir"))) from None
    _put_first_on_path(os.getcwd())
    entries = [e.strip() for e in (cfg.pythonpath or "").split(",") if e.strip()]
    for entry in reversed(entries):
        _put_first_on_path(os.path.abspath(entry))
    for pair in cfg.env:
        key, _, value = pair.partition("=")
        os.environ[key.strip()] = value


def _put_first_on_path(directory):
    sys.path[:] = [directory] + [p for p in sys.path if p != directory]


def parse_spec(spec):
    """Parse an app spec into an ``AppSpec``; ``AppLoadError`` if malformed."""
    def bad(why):
        return AppLoadError("bad application %r: %s; %s" % (spec, why, _FORMS))
    module, sep, target = (spec or "").strip().partition(":")
    if not module:
        raise bad("the module name is missing")
    if not all(part.isidentifier() for part in module.split(".")):
        raise bad("%r is not a module name%s" % (module, _path_hint(module)))
    if not sep:
        return AppSpec(module, (), None)
    if not target.strip():
        raise bad("the name after ':' is missing")
    try:
        node = ast.parse(target.strip(), mode="eval").body
    except SyntaxError:
        raise bad("%r is not a name or a call" % target) from None
    call = None
    if isinstance(node, ast.Call):
        call = _literal_arguments(node, bad)
        node = node.func
    return AppSpec(module, _dotted_name(node, bad), call)


def _path_hint(module):
    """For a file path like ``myproj/wsgi.py``: the module name it means."""
    path = module[:-3] if module.endswith(".py") else module
    dotted = path.strip("./").replace("/", ".")
    if dotted != module and all(p.isidentifier() for p in dotted.split(".")):
        return " (a file path? did you mean %r?)" % dotted
    return ""


def _literal_arguments(node, bad):
    try:
        args = tuple(ast.literal_eval(arg) for arg in node.args)
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
    except ValueError:
        raise bad("factory arguments must be literals (strings, numbers, "
                  "True/False/None, lists, dicts)") from None
    if None in kwargs:
        raise bad("factory arguments must be literals, not **mappings")
    return args, kwargs


def _dotted_name(node, bad):
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise bad("expected a name or a dotted name before the arguments")
    names.append(node.id)
    return tuple(reversed(names))


def find(spec):
    """Check that ``spec`` is well formed and its top-level module can be
    found, without importing anything; ``AppLoadError`` saying which not."""
    top = parse_spec(spec).module.partition(".")[0]
    if top not in sys.modules and importlib.util.find_spec(top) is None:
        raise AppLoadError(_not_found_message(top, top))


def load_app(spec):
    """Import the module of ``spec`` and return its WSGI callable."""
    parsed = parse_spec(spec)
    module = _import(parsed.module)
    attrs = parsed.attrs or (_default_name(module, spec),)
    obj = _resolve(module, attrs)
    if parsed.call is not None:
        obj = _call_factory(obj, parsed.call, spec)
    elif not callable(obj):
        raise AppLoadError(_not_callable_message(spec, obj))
    return obj


def _not_callable_message(spec, obj):
    return ("%r is not callable: it is %s, but a WSGI application must be a "
            "callable app(environ, start_response)" % (spec, _describe(obj)))


def _import(name):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and (name == err.name or name.startswith(err.name + ".")):
            raise AppLoadError(_not_found_message(name, err.name)) from None
        raise AppLoadError(_import_failed_message(name, err)) from None
    except (Exception, SystemExit) as err:
        raise AppLoadError(_import_failed_message(name, err)) from None


def _not_found_message(name, missing):
    parent = missing.rpartition(".")[0]
    if parent and hasattr(sys.modules.get(parent), "__path__"):
        where, paths = "package %r" % parent, list(sys.modules[parent].__path__)
    else:
        where, paths = "sys.path", sys.path
    needed = "" if missing == name else " (needed to import %r)" % name
    lines = ["module %r not found%s. Searched %s:" % (missing, needed, where)]
    lines += ["  " + (p or "'' (the current directory)") for p in paths]
    lines.append("Run appserver from your project directory, or use --chdir "
                 "or --pythonpath.")
    return "\n".join(lines)


def _import_failed_message(name, err):
    return ("module %r was found, but importing it raised an exception:\n%s"
            % (name, _format_exception(err))).rstrip("\n")


def _format_exception(err):
    """The traceback of ``err`` without the frames of this loader and importlib."""
    tb = traceback.TracebackException.from_exception(err)
    tb.stack = traceback.StackSummary.from_list(
        [f for f in tb.stack if not _is_loader_frame(f.filename)])
    return "".join(tb.format())


def _is_loader_frame(filename):
    return (filename == __file__ or filename == importlib.__file__
            or filename.startswith("<frozen importlib"))


def _default_name(module, spec):
    for name in _DEFAULT_NAMES:
        if hasattr(module, name):
            return name
    raise AppLoadError("module %r has neither 'application' nor 'app'; name the "
                       "callable, like '%s:NAME'. %s"
                       % (module.__name__, spec, _callables_text(module)))


def _resolve(module, attrs):
    obj, path = module, module.__name__ + ":" + attrs[0]
    for i, attr in enumerate(attrs):
        if not hasattr(obj, attr):
            raise AppLoadError(_missing_attr_message(obj, path, attr, module))
        obj = getattr(obj, attr)
        path = "%s:%s" % (module.__name__, ".".join(attrs[:i + 1]))
    return obj


def _missing_attr_message(obj, path, attr, module):
    if obj is module:
        import difflib                  # error messages only
        close = difflib.get_close_matches(attr, public_callables(module), n=1)
        hint = " (did you mean %r?)" % close[0] if close else ""
        return "module %r has no attribute %r%s. %s" % (
            module.__name__, attr, hint, _callables_text(module))
    return "%r has no attribute %r (it is %s)" % (path, attr, _describe(obj))


def public_callables(module):
    """Names of the callables a module defines or holds, for error messages."""
    def own(value):
        if isinstance(value, (types.FunctionType, type)):
            return getattr(value, "__module__", None) == module.__name__
        return not isinstance(value, types.ModuleType)
    return sorted(name for name, value in vars(module).items()
                  if not name.startswith("_") and callable(value) and own(value))


def _callables_text(module):
    names = public_callables(module)
    where = getattr(module, "__file__", None) or module.__name__
    if not names:
        return "%s defines no public callables." % where
    return "Public callables in %s: %s." % (where, ", ".join(names))


def _call_factory(factory, call, spec):
    if not callable(factory):
        raise AppLoadError(_not_callable_message(spec.partition("(")[0], factory))
    args, kwargs = call
    try:
        app = factory(*args, **kwargs)
    except Exception as err:
        raise AppLoadError("application factory %r raised an exception:\n%s"
                           % (spec, _format_exception(err).rstrip("\n"))) from None
    if not callable(app):
        raise AppLoadError("application factory %r returned %s, not a WSGI "
                           "application (a callable app(environ, start_response))"
                           % (spec, _describe(app)))
    return app


def _describe(obj):
    text = repr(obj)
    if len(text) > 60:
        text = text[:57] + "..."
    return "a %s (%s)" % (type(obj).__name__, text)
