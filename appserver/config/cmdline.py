"""The command line of ``appserver``: a click command made from the settings table.

``parse(args)`` returns ``(app, given)``: the APP argument (None when it is
missing) and ``{key: value}`` for the options given on the command line only
(click's parameter source), so an option left out never hides a value from
the config file or the environment. Values stay strings (tuples of strings
for a repeatable option, booleans for a switch); ``appserver.config.convert`` checks
them later. Gunicorn's spellings are hidden options: a setting's
``aliases``, and the flags of ``config.gunicorn`` that appserver spells
differently (their values go through its rules; a flag both servers use
keeps appserver's meaning). A command line that cannot be parsed raises
``errors.UsageError`` (exit code 2). ``--help`` lists the options section by
section, in table order. ``cmd_args(environ)`` parses the ``GUNICORN_CMD_ARGS``
and ``APPSERVER_CMD_ARGS`` variables the same way. ``complete(args)``
answers click's shell completion (``_APPSERVER_COMPLETE``).

click is imported here only; ``cli.main`` runs this module in a short-lived
child process (or, for a plain command line, reads it without click: see
``cli.plain_args``), so click is never loaded in the arbiter and the workers
it forks.
"""
from __future__ import annotations

import functools
from typing import (
    Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple,
)

import click
from click.core import ParameterSource

from appserver import __version__
from appserver.config import convert
from appserver.config import settings as S
from appserver.config import gunicorn as G
from appserver.config import schema
from appserver.errors import UsageError

PROG = "appserver"
USAGE = "appserver [OPTIONS] APP"
COMPLETE_VAR = "_APPSERVER_COMPLETE"
DESCRIPTION = (
    "Serve the WSGI application APP with a pool of worker processes.\n\n"
    "APP is MODULE (its 'application', else its 'app'), MODULE:NAME, "
    "MODULE:NAME.ATTR or MODULE:FACTORY(literal arguments). Every option "
    "can also be set in the config file (-c FILE, else ./appserver.conf.py "
    "or ./gunicorn.conf.py) "
    "or in its APPSERVER_* environment variable; the command line wins, "
    "then APPSERVER_CMD_ARGS and GUNICORN_CMD_ARGS, then the environment, "
    "then the config file.\n\n"
    "'appserver status [--admin ADDR | --pid FILE] [--json]' shows what "
    "the workers of a running server are doing.")
_WIDTH = 100
_ALIAS = "__alias_"             # name of a hidden option: KEY__alias_N
COMMANDS = ("check_config", "print_config")     # options that are commands


class Command(click.Command):
    """The ``appserver`` command: ``--help`` grouped by section, table order."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(PROG, USAGE[len(PROG) + 1:])

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for section in schema.SECTIONS:
            rows = [param.get_help_record(ctx) for param in self.get_params(ctx)
                    if getattr(param, "section", schema.COMMAND) == section
                    and not getattr(param, "hidden", False)]
            with formatter.section(section):
                formatter.write_dl([row for row in rows if row])


class SettingOption(click.Option):
    """An option that knows its ``--help`` section."""

    def __init__(self, *args: Any, section: str = schema.COMMAND, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section


def _help(setting: schema.Setting) -> str:
    default = convert.default_text(setting)
    if setting.env:
        return "%s [env: %s; default: %s]" % (setting.help, setting.env, default)
    if setting.default not in (None, False) or setting.default_doc:
        return "%s [default: %s]" % (setting.help, default)
    return setting.help


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        click.echo("appserver %s" % __version__)
        ctx.exit(0)


def _options(setting: schema.Setting) -> Iterator[SettingOption]:
    """The option of one setting, then its hidden Gunicorn spellings."""
    common: Dict[str, Any] = dict(section=setting.section, help=_help(setting),
                                  default=None, show_default=False)
    if setting.name == "version":
        yield SettingOption(list(setting.flags + setting.aliases), is_flag=True,
                            expose_value=False, is_eager=True,
                            callback=_print_version, **common)
        return
    switch = setting.type == schema.BOOL
    kind: Dict[str, Any] = dict(is_flag=True) if switch else dict(
        metavar=setting.metavar, multiple=setting.multiple)
    yield SettingOption(list(setting.flags) + [setting.key], **kind, **common)
    for number, alias in enumerate(setting.aliases):
        yield SettingOption([alias, "%s%s%d" % (setting.key, _ALIAS, number)],
                            hidden=True, **kind, default=None)


_KINDS: Dict[str, Dict[str, Any]] = {G.VALUE: {}, G.APPEND: {"multiple": True},
          G.TRUE: {"is_flag": True, "flag_value": True},
          G.FALSE: {"is_flag": True, "flag_value": False}}


def _gunicorn_options(taken: Set[str]) -> Iterator[SettingOption]:
    """Gunicorn's flags that appserver spells differently, hidden from --help."""
    for setting in G.GUNICORN:
        flags = [flag for flag in setting.flags if flag not in taken]
        if flags:
            yield SettingOption(flags + [setting.name], hidden=True, default=None,
                                **_KINDS[setting.action])


def _complete_app(ctx: click.Context, param: click.Parameter,
                  incomplete: str) -> List[click.shell_completion.CompletionItem]:
    """APP: the ``status`` command, or a module of the current directory."""
    import os
    names = ["status"] + sorted(
        name[:-3] for name in os.listdir(".") if name.endswith(".py"))
    return [click.shell_completion.CompletionItem(name) for name in names
            if name.startswith(incomplete)]


@functools.lru_cache(maxsize=1)
def build() -> Command:
    """The ``appserver`` click command: APP, then one option per setting."""
    params: List[click.Parameter] = [click.Argument(["app"], required=False, metavar="APP",
                             shell_complete=_complete_app)]
    for setting in S.SETTINGS:
        params.extend(_options(setting))
    taken = {flag for param in params for flag in getattr(param, "opts", ())
             + getattr(param, "secondary_opts", ())} | {"-h", "--help"}
    params.extend(_gunicorn_options(taken))
    return Command(PROG, params=params, help=DESCRIPTION, add_help_option=True,
                   context_settings={"help_option_names": ["-h", "--help"],
                                     "max_content_width": _WIDTH,
                                     "allow_extra_args": True})


def parse(args: Iterable[str]) -> Tuple[Optional[str], Dict[str, Any]]:
    """``(app, given)`` from the command-line arguments (without the program name)."""
    command = build()
    try:
        ctx = command.make_context(PROG, list(args))
    except click.exceptions.Exit as exit:        # --help, --version
        raise SystemExit(exit.exit_code) from None
    except click.NoSuchOption as exc:
        raise UsageError(_no_such_option(exc.option_name, command)) from None
    except click.ClickException as exc:
        raise UsageError(exc.format_message()) from None
    if ctx.args:
        raise UsageError("unexpected extra argument %r; only one APP can be served"
                         % ctx.args[0])
    given: Dict[str, Any] = {}
    for param in command.params:
        name = param.name
        if name is None or ctx.get_parameter_source(name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[name]
        given[name.split(_ALIAS)[0]] = tuple(value) if isinstance(value, (list, tuple)) else value
    return given.pop("app", None), given


def _no_such_option(flag: str, command: click.Command) -> str:
    """The message for an unknown flag, suggesting a flag ``--help`` shows."""
    import difflib                      # error messages only
    known = [flag for param in command.params if not getattr(param, "hidden", True)
             for flag in param.opts + param.secondary_opts]
    close = difflib.get_close_matches(flag, known, n=1)
    hint = "; did you mean %s?" % close[0] if close else "; see --help"
    return "no such option %s%s" % (flag, hint)


def cmd_args(environ: Mapping[str, str]) -> List[Tuple[str, Dict[str, Any]]]:
    """``[(variable, options)]`` of the ``*_CMD_ARGS`` variables that are set,
    lowest precedence first; a variable holds options only."""
    import shlex
    parsed: List[Tuple[str, Dict[str, Any]]] = []
    for var in S.CMD_ARGS_ENV:
        if not environ.get(var, "").strip():
            continue
        try:
            app, options = parse(shlex.split(environ[var]))
        except ValueError as exc:            # shlex: an unclosed quote
            raise UsageError("%s: %s" % (var, exc)) from None
        except UsageError as exc:
            raise UsageError("%s: %s" % (var, exc)) from None
        if app is not None:
            raise UsageError("%s holds options only; name the app (%s) on the "
                             "command line" % (var, app))
        for command in COMMANDS:
            options.pop(command, None)
        parsed.append((var, options))
    return parsed


def complete(args: Sequence[str]) -> Any:
    """Answer shell completion (``_APPSERVER_COMPLETE=bash_source appserver``)."""
    return build().main(list(args), prog_name=PROG, complete_var=COMPLETE_VAR)
