"""The ``appserver`` command: click options generated from the settings table.

``main`` takes the app spec (``APP``) and one option per setting, grouped by
section in ``--help``. Only the options given explicitly on the command line
are passed to ``config.load``, so an option left out never hides a value from
the config file or the environment. ``--version``, ``--print-config`` and
``--check-config`` print and exit; otherwise the process is prepared
(``loader.prepare``) and the arbiter runs. ``_run`` is the one place where an
``AppServerError`` becomes ``Error: <message>`` on stderr and its exit code.
``appserver status ...`` (a first argument of ``status``) runs
``appserver.status_cli.command`` instead; ``appserver APP`` is unchanged.
"""

import sys

import click
from click.core import ParameterSource

from appserver import __version__, config, convert, loader, tls
from appserver import settings as S
from appserver.errors import AppServerError

_EXAMPLES = ("  appserver myproj.wsgi\n"
             "  appserver pkg.mod:app\n"
             "  appserver 'pkg.mod:create_app(debug=False)'")
_MISSING_APP = ("missing the APP argument, the WSGI application to serve, "
                "for example:\n" + _EXAMPLES)
_COMMANDS = ("check_config", "print_config")


class SettingOption(click.Option):
    """A click option made from a ``Setting``; remembers its help section."""

    def __init__(self, setting, **kwargs):
        self.section = setting.section
        super().__init__([setting.key, *setting.flags, *setting.aliases], **kwargs)


class SectionedCommand(click.Command):
    """A command whose ``--help`` lists the options section by section."""

    def format_options(self, ctx, formatter):
        groups = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                section = getattr(param, "section", S.COMMAND)
                groups.setdefault(section, []).append(record)
        for section in S.SECTIONS:
            if section in groups:
                with formatter.section(section):
                    formatter.write_dl(groups[section])


def _help(setting):
    default = convert.default_text(setting)
    if setting.env:
        return "%s [env: %s; default: %s]" % (setting.help, setting.env, default)
    if setting.default not in (None, False) or setting.default_doc:
        return "%s [default: %s]" % (setting.help, default)
    return setting.help


def _print_version(ctx, param, value):
    if value and not ctx.resilient_parsing:
        click.echo("appserver %s" % __version__)
        ctx.exit(0)


class MainCommand(SectionedCommand):
    """The server command, which hands ``appserver status ...`` over."""

    def main(self, args=None, prog_name=None, **extra):
        args = list(sys.argv[1:] if args is None else args)
        if args[:1] == ["status"]:
            from appserver.status_cli import command
            return command.main(args[1:], prog_name="%s status" % (prog_name or "appserver"),
                                **extra)
        return super().main(args, prog_name, **extra)


def _option(setting):
    """The click option for one setting; ``default=None`` so that an option
    not given is told apart (``ctx.get_parameter_source``) and not passed on."""
    kwargs = {"help": _help(setting), "default": None}
    if setting.type == S.BOOL:
        kwargs["is_flag"] = True
    else:
        kwargs.update(type=click.STRING, metavar=setting.metavar,
                      multiple=setting.multiple)
    if setting.name == "version":
        kwargs.update(is_eager=True, expose_value=False, callback=_print_version)
    return SettingOption(setting, **kwargs)


def _explicit(ctx, params):
    """The parameters given on the command line (not defaults)."""
    return {key: value for key, value in params.items()
            if ctx.get_parameter_source(key) is ParameterSource.COMMANDLINE}


def _run(app, **params):
    ctx = click.get_current_context()
    given = _explicit(ctx, params)
    commands = [key for key in _COMMANDS if given.pop(key, False)]
    if app is None:
        raise click.UsageError(_MISSING_APP, ctx)
    try:
        cfg = config.load(app, given)
        if "print_config" in commands:
            click.echo(config.print_config(cfg), nl=False)
        if "check_config" in commands:
            _check(cfg)
        if not commands:
            _serve(cfg)
    except AppServerError as err:
        click.echo("Error: %s" % err, err=True)
        ctx.exit(err.exit_code)


def _check(cfg):
    """Do everything a start does short of binding and forking."""
    for address in cfg.bind:
        config.parse_bind(address)
    loader.prepare(cfg)
    tls.check(cfg)
    loader.load_app(cfg.app)
    module = sys.modules[loader.parse_spec(cfg.app).module]
    click.echo("config OK: app %s loaded from %s"
               % (cfg.app, getattr(module, "__file__", None) or module.__name__))


def _serve(cfg):
    loader.prepare(cfg)
    tls.check(cfg)
    from appserver.arbiter import Arbiter
    sys.exit(Arbiter(cfg).run())


main = MainCommand(
    name="appserver",
    callback=_run,
    params=[click.Argument(["app"], required=False, metavar="APP")]
    + [_option(setting) for setting in S.SETTINGS],
    help="Serve the WSGI application APP with a pool of worker processes.\n\n"
         "APP is MODULE (its 'application', else its 'app'), MODULE:NAME, "
         "MODULE:NAME.ATTR or MODULE:FACTORY(literal arguments). Every option "
         "can also be set in the config file (-c FILE, else ./appserver.conf.py) "
         "or in its APPSERVER_* environment variable; the command line wins, "
         "then the environment, then the config file.\n\n"
         "'appserver status [--admin ADDR | --pid FILE] [--json]' shows what "
         "the workers of a running server are doing.",
    context_settings={"help_option_names": ["-h", "--help"],
                      "max_content_width": 100},
)
