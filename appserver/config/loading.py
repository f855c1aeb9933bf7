"""Merge the sources of settings into one frozen ``Config``.

``load(app, cli, environ, cwd, cmd_args)`` merges, lowest first: the defaults
of the settings table (some taken from ``PORT`` and ``WEB_CONCURRENCY``), the
config file (``-c FILE``, else ``./appserver.conf.py`` or, failing that,
Gunicorn's ``./gunicorn.conf.py`` if it exists), the
``APPSERVER_*`` environment variables (except ``settings.INTERNAL_ENV`` and
the ones Kubernetes service links make, ``appserver.config.service_links``), the
options of ``GUNICORN_CMD_ARGS`` then ``APPSERVER_CMD_ARGS`` (``cmd_args``:
the parsed options of each, as ``cli``; they may name the config file), and
the values given explicitly on the command line. The config file's server
hooks (``appserver.config.hooks``) are kept in ``cfg.hooks``. ``cfg.source(name)`` says
where each value came from, and ``print_config`` shows them all.

Gunicorn's settings are read too, in its spelling and value types, in the
config file and on the command line (``appserver.config.gunicorn`` says what
each becomes); those with no effect here leave a line in ``cfg.notices``. Any
other name in a config file is ignored, as Gunicorn does (helpers, imports),
unless it is close to a setting's name: then it is a did-you-mean error. In a
Gunicorn config file (named ``gunicorn*``, or one that sets a name only
Gunicorn has, such as ``raw_env`` or ``proc_name``) Gunicorn's meaning wins:
appserver's names that are Gunicorn's flag spellings of a setting Gunicorn
names otherwise (``env``, ``pid``, ``name``, ``log_level``..., Gunicorn's
``--env``, ``--pid``, ``--name``, ``--log-level``) are not Gunicorn settings,
so they are ignored there as Gunicorn ignores them, with a notice. An
unknown ``APPSERVER_*`` variable, a broken config file, or a bad value raises
``ConfigError`` (a malformed bind address too) naming the source.
``reload(cfg)`` loads again from the same command line, config
file and directory (for SIGHUP). ``parse_bind`` (from ``appserver.config.convert``)
parses one bind address.
"""
from __future__ import annotations

import os
import runpy
import traceback
import types
from typing import (
    TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union,
)

from appserver.config import hooks, service_links
from appserver.config import settings as S
from appserver.config import gunicorn as G
from appserver.config.convert import convert, parse_bind, parse_networks
from appserver.errors import ConfigError

__all__ = ["Config", "load", "reload", "print_config", "parse_bind",
           "DEFAULT_CONFIG_FILE"]

# Values given by one source, by setting key: (raw value, where it was given,
# the source as ``Config.source`` names it).
Layer = Dict[str, Tuple[Any, str, str]]
# ``*_CMD_ARGS``: (variable, options) pairs.
CmdArgs = Sequence[Tuple[str, Mapping[str, Any]]]

DEFAULT_CONFIG_FILE = "appserver.conf.py"
GUNICORN_CONFIG_FILE = "gunicorn.conf.py"  # Gunicorn's default, read when ours is absent
DEFAULT = "default"
COMMAND_LINE = "command line"


class Config:
    """Every setting as an attribute (``cfg.graceful_timeout``), read-only.

    Also ``cfg.app`` (the app spec or None), ``cfg.config_file`` (absolute
    path or None), ``cfg.cli`` (the explicit command-line values) and
    ``cfg.cwd`` (the directory it was loaded in, before any ``chdir``), and
    ``cfg.hooks`` (``{name: function}``, the config file's server hooks),
    ``cfg.notices`` (lines to log at start: settings read with no effect),
    ``cfg.warnings`` (lines to log at start as warnings: a risky setting),
    ``cfg.cmd_args`` (the parsed ``*_CMD_ARGS`` variables, for a reload).
    Values of repeatable settings (``bind``, ``env``) are tuples.
    """

    __slots__ = tuple(s.key for s in S.CONFIG_SETTINGS) + (
        "app", "config_file", "cli", "cwd", "hooks", "notices", "cmd_args",
        "warnings", "_sources")

    def __init__(self, values: Mapping[str, Any], sources: Mapping[str, str],
                 app: Optional[str] = None, config_file: Optional[str] = None,
                 cli: Optional[Mapping[str, Any]] = None, cwd: Optional[str] = None,
                 hooks: Optional[Mapping[str, Any]] = None, notices: Sequence[str] = (),
                 cmd_args: CmdArgs = ()) -> None:
        fields = dict(values, app=app, config_file=config_file,
                      cli=types.MappingProxyType(dict(cli or {})),
                      cwd=cwd, hooks=types.MappingProxyType(dict(hooks or {})),
                      notices=tuple(notices), cmd_args=tuple(cmd_args),
                      _sources=dict(sources))
        for key, value in fields.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "warnings", _warnings(self))

    if TYPE_CHECKING:
        # Each setting is a slot named from the settings table, known when
        # the table is read; to a type checker any attribute may be one.
        def __getattr__(self, name: str) -> Any: ...

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Config is read-only; load a new one instead")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is read-only; load a new one instead")

    def source(self, name: str) -> str:
        """Where the value of setting ``name`` (dashes or underscores) came from.

        ``"default"``, ``"config file PATH"``, ``"environment APPSERVER_X"``
        (or ``"environment PORT"``/``"environment WEB_CONCURRENCY"``) or
        ``"command line"``.
        """
        return self._sources[name.replace("-", "_")]

    def as_dict(self) -> Dict[str, Any]:
        """The settings as a ``{key: value}`` dict, in table order."""
        return {s.key: getattr(self, s.key) for s in S.CONFIG_SETTINGS}

    def __repr__(self) -> str:
        return "Config(app=%r, %s)" % (self.app, ", ".join(
            "%s=%r" % item for item in self.as_dict().items()))


def load(app: Optional[str] = None, cli: Optional[Mapping[str, Any]] = None,
         environ: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
         cmd_args: CmdArgs = ()) -> Config:
    """Merge defaults < config file < environment < ``*_CMD_ARGS`` < command
    line into a Config.

    ``cli`` maps setting names (dashes or underscores) to the values given
    explicitly on the command line, plus ``config`` for ``-c FILE``; values
    may be strings (as typed) or Python values. ``cmd_args`` is a sequence of
    ``(variable, options)``, lowest first, options as in ``cli``.
    ``environ`` defaults to ``os.environ``, ``cwd`` (where relative paths and
    ``appserver.conf.py`` are looked up) to the current directory.
    """
    environ = os.environ if environ is None else environ
    cwd = os.getcwd() if cwd is None else cwd
    cli = _cli_values(cli or {})
    cmd = [(var, _cli_values(options)) for var, options in cmd_args]
    named = [options.get("config") for _, options in cmd] + [cli.get("config")]
    path = _find_config_file(next((n for n in reversed(named) if n), None), cwd)
    notices = ["Reading options from %s: %s" % (var, " ".join(_shown(options)))
               for var, options in cmd if var == "GUNICORN_CMD_ARGS"]
    logs = {k: v for options in [o for _, o in cmd] + [cli]
            for k, v in options.items() if k in G.LOG_CONFIGS}
    file_layer: Layer = {}
    file_hooks: Dict[str, Any] = {}
    if path:
        file_layer, file_hooks, logs = _file_layer(path, notices, logs)
    used = G.log_config_used(logs)
    layers = [file_layer, _env_layer(environ)]
    layers += [_cli_layer(options, notices, var, used) for var, options in cmd]
    layers.append(_cli_layer(cli, notices, None, used))
    values: Dict[str, Any] = {}
    sources: Dict[str, str] = {}
    for layer in layers:
        for key, (raw, origin, description) in layer.items():
            if key == "app":
                app = app or raw
                continue
            values[key] = convert(S.BY_KEY[key], raw, origin)
            sources[key] = description
    for setting in S.CONFIG_SETTINGS:
        if setting.key not in values:
            values[setting.key], sources[setting.key] = _default(setting, environ)
    return Config(values, sources, app, path, cli, cwd, file_hooks, notices,
                  cmd_args)


def reload(cfg: Config, environ: Optional[Mapping[str, str]] = None) -> Config:
    """Load again with ``cfg``'s app, command line, config file and directory."""
    cli = dict(cfg.cli)
    if cfg.config_file:
        cli["config"] = cfg.config_file
    return load(cfg.app, cli, environ, cfg.cwd, cfg.cmd_args)


def print_config(cfg: Config) -> str:
    """Every setting, its value and its source, aligned, as config-file lines."""
    rows = [(s.key, repr(_plain(getattr(cfg, s.key))), cfg.source(s.key))
            for s in S.CONFIG_SETTINGS]
    key_width = max(len(key) for key, _, _ in rows)
    value_width = min(40, max(len(value) for _, value, _ in rows))
    lines = ["# app: %s" % cfg.app,
             "# config file: %s" % (cfg.config_file or "none")]
    lines += ["%-*s = %-*s  # %s" % (key_width, key, value_width, value, source)
              for key, value, source in rows]
    return "\n".join(lines) + "\n"


def _warnings(cfg: Config) -> Tuple[str, ...]:
    warning = open_to_all(cfg)
    return (warning,) if warning else ()


def open_to_all(cfg: Config) -> Optional[str]:
    """The warning to log at start when any client may set what a proxy sets."""
    if parse_networks(cfg.forwarded_allow_ips)[0] is not True:
        return None
    x_kind = cfg.forwarded_headers != "forwarded"
    schemes = getattr(cfg, "secure_scheme_headers", S.BY_KEY["secure_scheme_headers"].default)
    scheme = (", ".join(name.title() for name in schemes) if x_kind
              else "Forwarded proto=")
    what = ["REMOTE_ADDR (%s)" % ("X-Forwarded-For" if x_kind else "Forwarded for=")]
    if scheme:
        what.append("wsgi.url_scheme (%s)" % scheme)
    if x_kind:
        what.append("SERVER_PORT and the port of HTTP_HOST (X-Forwarded-Port)")
    if getattr(cfg, "forwarded_host", False):
        what.append("HTTP_HOST (%s)" % ("X-Forwarded-Host" if x_kind else "Forwarded host="))
    what.append("SCRIPT_NAME (X-Script-Name, X-Forwarded-Prefix)")
    what.append("the request id (X-Request-ID)")
    return ("forwarded-allow-ips is '*': any client that reaches this server can "
            "set %s; list your proxies' addresses instead unless only a proxy can "
            "connect" % ", ".join(what))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _cli_values(cli: Mapping[str, Any]) -> Dict[str, Any]:
    """Normalize keys to underscores; drop values that were not given.

    Keys are appserver's settings or Gunicorn's (from its flags)."""
    values: Dict[str, Any] = {}
    for name, value in cli.items():
        key = name.replace("-", "_")
        if key != "config" and key not in S.BY_KEY and key not in G.BY_NAME:
            raise _unknown(key, "on the command line", S.BY_KEY)
        if value is not None:
            values[key] = value
    return values


def _shown(options: Mapping[str, Any]) -> Iterator[str]:
    """Options as ``--name value`` words, for a notice."""
    for key, value in options.items():
        yield "--" + key.replace("_", "-")
        if not isinstance(value, bool):
            yield " ".join(value) if isinstance(value, tuple) else str(value)


def _cli_layer(cli: Mapping[str, Any], notices: List[str],
               var: Optional[str] = None, log_used: Optional[str] = None) -> Layer:
    """Command-line options (``var``: from that environment variable).
    ``log_used``: the one of Gunicorn's log configurations Gunicorn would use
    (``G.LOG_CONFIGS``); another one given here is ignored, with a notice."""
    layer: Layer = {}
    description = COMMAND_LINE if var is None else var
    for key, value in cli.items():
        setting = S.BY_KEY.get(key)
        if setting is not None and setting.cli_only:
            continue
        flag = _long_flag(setting) if setting else G.BY_NAME[key].flags[-1]
        where = flag if var is None else "%s in %s" % (flag, var)
        if key in G.LOG_CONFIGS and log_used is not None and log_used != key:
            notices.append(G.log_config_ignored(key, where, log_used))
        elif key in G.BY_NAME:        # also adapts Gunicorn's values: --cert-reqs 2
            _gunicorn(key, value, where, description, layer, notices)
        else:
            layer[key] = (value, where, description)
    return layer


def _gunicorn(name: str, value: Any, where: str, description: str, layer: Layer,
              notices: List[str]) -> None:
    """Put Gunicorn's setting ``name`` into ``layer`` as appserver's, or note
    that it has no effect."""
    outcome = G.translate(name, value, where)
    if outcome[0] == "set":
        layer[outcome[1]] = (outcome[2], where, description)
    elif outcome[1]:
        notices.append(outcome[1])


def _long_flag(setting: S.Setting) -> str:
    return setting.flags[-1].split("/")[0]


def _env_layer(environ: Mapping[str, str]) -> Layer:
    layer: Layer = {}
    for var, raw in environ.items():
        if (not var.startswith("APPSERVER_") or var in S.INTERNAL_ENV
                or var in S.CMD_ARGS_ENV):
            continue
        setting = S.BY_ENV.get(var)
        if setting is None and service_links.is_service_link(var, raw):
            continue
        if setting is None:
            raise _unknown(var, "in the environment", S.BY_ENV)
        value: Union[str, List[str]] = raw
        if setting.multiple:
            value = [item.strip() for item in raw.split(",") if item.strip()]
        layer[setting.key] = (value, var, "environment " + var)
    return layer


def _default(setting: S.Setting, environ: Mapping[str, str]) -> Tuple[Any, str]:
    """The table default, or the one derived from ``setting.default_env``."""
    var = setting.default_env
    if var and environ.get(var):
        raw = setting.default_env_format.format(environ[var])
        return convert(setting, raw, var), "environment " + var
    return setting.default, DEFAULT


def _find_config_file(given: Optional[str], cwd: str) -> Optional[str]:
    if given is not None:
        path = os.path.abspath(os.path.join(cwd, given))
        if not os.path.isfile(path):
            raise ConfigError("config file %s does not exist (from --config)"
                              % given)
        return path
    for name in (DEFAULT_CONFIG_FILE, GUNICORN_CONFIG_FILE):
        path = os.path.abspath(os.path.join(cwd, name))
        if os.path.isfile(path):
            return path
    return None


def _file_layer(path: str, notices: List[str], logs: Mapping[str, Any],
                ) -> Tuple[Layer, Dict[str, Any], Dict[str, Any]]:
    """The settings of a config file, its server hooks, and Gunicorn's log
    configurations given anywhere (``logs``: those of the command lines,
    which win over the file's of the same name).

    A Gunicorn setting goes through its rule (which also adapts the values
    of the names both servers share: ``umask = 0o027``, ``bind = [...]``);
    of its log configurations only the one Gunicorn would use. Other names
    are appserver's, or ignored unless close to a setting's."""
    origin = "config file " + path
    layer: Layer = {}
    names, file_hooks = _run_config_file(path)
    gunicorns = _is_gunicorn_file(path, names)
    logs = dict({k: v for k, v in names.items() if k in G.LOG_CONFIGS}, **logs)
    log_used = G.log_config_used(logs)
    for name, value in names.items():
        setting = S.BY_KEY.get(name)
        if name in G.LOG_CONFIGS and value and log_used != name:
            notices.append(G.log_config_ignored(name, origin, str(log_used)))
        elif name in G.BY_NAME:
            _gunicorn(name, value, origin, origin, layer, notices)
        elif gunicorns and name in GUNICORN_FLAG_NAMES:
            notices.append(
                "%s in %s is ignored, as Gunicorn ignores it: it is no Gunicorn "
                "setting (Gunicorn's --%s sets %s); in an appserver config file it "
                "would be appserver's %s" % (name, path, name.replace("_", "-"),
                                             GUNICORN_FLAG_NAMES[name], name))
        elif setting is not None and not setting.cli_only:
            layer[name] = (value, origin, origin)
        else:
            _check_near_miss(name, path)
    return layer, file_hooks, logs


# appserver's setting names that are Gunicorn's long flags of a setting it
# names otherwise, e.g. {"env": "raw_env", "pid": "pidfile", "name": "proc_name"}.
GUNICORN_FLAG_NAMES = {
    flag[2:].replace("-", "_"): g.name
    for g in G.GUNICORN for flag in g.flags
    if flag.startswith("--") and flag[2:].replace("-", "_") in S.BY_KEY
    and flag[2:].replace("-", "_") not in G.BY_NAME}


def _is_gunicorn_file(path: str, names: Mapping[str, Any]) -> bool:
    """Written for Gunicorn: named so, or setting a name only Gunicorn has."""
    return os.path.basename(path).startswith("gunicorn") or any(
        name in G.BY_NAME and name not in S.BY_KEY for name in names)


def _check_near_miss(name: str, path: str) -> None:
    """A name close to a setting's is a typo; any other is the file's own."""
    import difflib                  # only for names that are no setting
    known = [s.key for s in S.CONFIG_SETTINGS] + [
        g.name for g in G.GUNICORN if g.name not in G.HOOK_NAMES]
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.8)
    if close:
        raise ConfigError("unknown setting '%s' in %s; did you mean '%s'? (a "
                          "helper name of your own: start it with '_')"
                          % (name, path, close[0]))


def _run_config_file(path: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Execute the config file; return its public names that are not
    modules, functions or classes, and its server hooks."""
    try:
        namespace = runpy.run_path(path, run_name="__appserver_config__")
    except SyntaxError as err:
        raise ConfigError("config file %s, line %s: SyntaxError: %s"
                          % (path, err.lineno, err.msg)) from None
    except Exception as err:
        raise ConfigError("config file %s, line %s: %s: %s" % (
            path, _line_in(path, err), type(err).__name__, err)) from None
    file_hooks = hooks.pick(namespace, path)
    return {name: value for name, value in namespace.items()
            if not name.startswith("_") and name not in file_hooks
            and not isinstance(value, types.ModuleType)
            and (not callable(value) or name in G.BY_NAME)}, file_hooks


def _line_in(path: str, err: BaseException) -> Union[int, str, None]:
    """The line of ``path`` executing when ``err`` was raised, or '?'."""
    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__)
             if frame.filename == path]
    return lines[-1] if lines else "?"


def _unknown(name: str, where: str, known: Mapping[str, S.Setting]) -> ConfigError:
    """A ConfigError for an unknown setting, with the closest valid name."""
    setting = known.get(name)
    if setting is not None and setting.cli_only:
        return ConfigError("'%s' %s is not allowed: it is only a command-line "
                           "option (%s)" % (name, where, "/".join(setting.flags)))
    folded = {k.lower(): k for k, s in known.items() if not s.cli_only}
    import difflib                  # error messages only
    close = difflib.get_close_matches(name.lower(), list(folded), n=1)
    hint = ("did you mean '%s'?" % folded[close[0]] if close
            else "run 'appserver --help' for the list of settings")
    return ConfigError("unknown setting '%s' %s; %s" % (name, where, hint))
