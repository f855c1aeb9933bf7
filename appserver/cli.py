"""The ``appserver`` command: parse, then print, check or serve.

``main(args)`` parses the command line (``cli_parser``: APP and the options
given explicitly) and the ``GUNICORN_CMD_ARGS``/``APPSERVER_CMD_ARGS``
variables (options only), loads the config (``config.load``) and then
``--print-config`` and ``--check-config`` (every ``preflight`` check) print
and exit; otherwise the process is prepared (``loader.prepare``), checked
(``preflight``, all but binding and importing) and the arbiter runs. ``main`` is the
one place where an ``AppServerError`` becomes ``Error: <message>`` on stderr
and its exit code, for ``appserver status`` too; a usage error also shows the
usage line. ``appserver status ...`` (a first argument of ``status``) runs
``appserver.status_cli`` instead; ``appserver APP`` is unchanged. It returns the exit status
(``sys.exit(main())`` in the console script).
"""

import os
import sys

from appserver import cli_parser, config, loader, preflight
from appserver import settings as S
from appserver.errors import AppServerError

_EXAMPLES = ("  appserver myproj.wsgi\n"
             "  appserver pkg.mod:app\n"
             "  appserver 'pkg.mod:create_app(debug=False)'")
_MISSING_APP = ("missing the APP argument, the WSGI application to serve, "
                "for example:\n" + _EXAMPLES)
_COMMANDS = ("check_config", "print_config")


def main(args=None):
    """Run ``appserver`` with ``args`` (default ``sys.argv[1:]``); the exit status."""
    args = list(sys.argv[1:] if args is None else args)
    if cli_parser.COMPLETE_VAR in os.environ:
        return cli_parser.complete(args)
    try:
        if args[:1] == ["status"]:
            from appserver import status_cli
            return status_cli.main(args[1:])
        app, given = cli_parser.parse(args)
        return _run(app, given)
    except cli_parser.UsageError as err:
        sys.stderr.write(cli_parser.usage_text(err))
        return err.exit_code
    except AppServerError as err:
        sys.stderr.write("Error: %s\n" % err)
        return err.exit_code


def _run(app, given):
    commands = [key for key in _COMMANDS if given.pop(key, False)]
    cfg = config.load(app, given, cmd_args=cmd_args(os.environ))
    if cfg.app is None:                 # not on the command line, no wsgi_app
        raise cli_parser.UsageError(_MISSING_APP)
    if "print_config" in commands:
        sys.stdout.write(config.print_config(cfg))
    if "check_config" in commands:
        _check(cfg)
    if not commands:
        return _serve(cfg)
    return 0


def cmd_args(environ):
    """``[(variable, options)]`` of the ``*_CMD_ARGS`` variables that are set."""
    import shlex
    parsed = []
    for var in S.CMD_ARGS_ENV:
        if not environ.get(var, "").strip():
            continue
        try:
            app, options = cli_parser.parse(shlex.split(environ[var]))
        except ValueError as exc:            # shlex: an unclosed quote
            raise cli_parser.UsageError("%s: %s" % (var, exc)) from None
        except cli_parser.UsageError as exc:
            raise cli_parser.UsageError("%s: %s" % (var, exc)) from None
        if app is not None:
            raise cli_parser.UsageError(
                "%s holds options only; name the app (%s) on the command line"
                % (var, app))
        for command in _COMMANDS:
            options.pop(command, None)
        parsed.append((var, options))
    return parsed


def _check(cfg):
    """Run every check a start runs, binding and loading too, then say so."""
    for notice in cfg.notices:
        sys.stderr.write("Notice: %s\n" % notice)
    loader.prepare(cfg)
    preflight.run(cfg, binding=True)
    module = sys.modules[loader.parse_spec(cfg.app).module]
    print("config OK: app %s loaded from %s; config file: %s"
          % (cfg.app, getattr(module, "__file__", None) or module.__name__,
             cfg.config_file or "none"))


def _serve(cfg):
    loader.prepare(cfg)
    preflight.run(cfg, binding=False)
    from appserver.arbiter import Arbiter
    return Arbiter(cfg).run()
