"""The ``appserver`` command: parse, then print, check or serve.

``main(args)`` parses the command line (``config.cmdline``: APP and the options
given explicitly) and the ``GUNICORN_CMD_ARGS``/``APPSERVER_CMD_ARGS``
variables (options only) in a short-lived child process (``parse_apart``:
click never loads in the arbiter, so neither in its workers). A plain
command line, APP and the table's switches and ``--flag VALUE`` pairs, each
once, with neither variable set, is read here instead (``plain_args``: the
same result as the child's, without forking and importing click); any other
command line goes to the child, which alone explains errors. It then loads the
config (``loading.load``) and then ``--print-config`` and ``--check-config``
(every ``preflight`` check) print and exit; otherwise the process is
prepared (``loader.prepare``), checked (``preflight``, all but binding and
importing) and the arbiter runs. ``main`` is the
one place where an ``AppServerError`` becomes ``Error: <message>`` on stderr
and its exit code, for ``appserver status`` too; a usage error also shows the
usage line. ``appserver status ...`` (a first argument of ``status``) runs
``appserver.observe.status_cli`` instead; ``appserver APP`` is unchanged. It returns the exit status
(``sys.exit(main())`` in the console script).
"""

import json
import os
import sys

from appserver.app import loader
from appserver.config import loading, schema
from appserver.config import settings as S
from appserver.deploy import preflight
from appserver.errors import AppServerError, UsageError

_EXAMPLES = ("  appserver myproj.wsgi\n"
             "  appserver pkg.mod:app\n"
             "  appserver 'pkg.mod:create_app(debug=False)'")
_MISSING_APP = ("missing the APP argument, the WSGI application to serve, "
                "for example:\n" + _EXAMPLES)
_COMMANDS = ("check_config", "print_config")
_COMPLETE_VAR = "_APPSERVER_COMPLETE"       # click's shell completion


def main(args=None):
    """Run ``appserver`` with ``args`` (default ``sys.argv[1:]``); the exit status."""
    args = list(sys.argv[1:] if args is None else args)
    try:
        if _COMPLETE_VAR in os.environ:
            from appserver.config import cmdline
            return cmdline.complete(args)
        if args[:1] == ["status"]:
            from appserver.observe import status_cli
            return status_cli.main(args[1:])
        parsed = plain_args(args, os.environ) or parse_apart(args, os.environ)
        app, given, cmd_args = parsed
        return _run(app, given, cmd_args)
    except UsageError as err:
        sys.stderr.write(usage_text(err))
        return err.exit_code
    except AppServerError as err:
        sys.stderr.write("Error: %s\n" % err)
        return err.exit_code


def usage_text(err):
    """What a usage error prints: usage, where to look, the message."""
    return "Usage: %s\nTry '%s --help' for help.\n\nError: %s\n" % (
        err.usage, err.prog, err)


def _run(app, given, cmd_args):
    commands = [key for key in _COMMANDS if given.pop(key, False)]
    cfg = loading.load(app, given, cmd_args=cmd_args)
    if cfg.app is None:                 # not on the command line, no wsgi_app
        raise UsageError(_MISSING_APP)
    if "print_config" in commands:
        sys.stdout.write(loading.print_config(cfg))
    if "check_config" in commands:
        _check(cfg)
    if not commands:
        return _serve(cfg)
    return 0


def plain_args(args, environ):
    """``(app, given, [])``, what ``parse_apart`` would return, when ``args``
    are APP (once, not starting with ``-``) and the table's flags, each given
    once unless its setting is ``multiple``: switches (``--preload``,
    ``--no-preload``, ``-D``) and valued flags (``--flag VALUE``,
    ``--flag=VALUE``, ``-f VALUE``; a value not starting with ``-``, or
    ``-`` itself), with no ``*_CMD_ARGS`` variable set; None otherwise."""
    if any(environ.get(var, "").strip() for var in S.CMD_ARGS_ENV):
        return None
    flags = _plain_flags()
    app, values = None, {}
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            if app is not None or not token:
                return None
            app = token
            continue
        flag, equals, value = token.partition("=") if token.startswith("--") else (
            token, "", "")
        setting, switch = flags.get(flag, (None, None))
        if setting is None or (setting.key in values and not setting.multiple):
            return None
        if switch is not None:
            if equals:
                return None
            value = switch
        elif not equals:
            if not rest:
                return None
            value = rest.pop(0)
        if switch is None and (not value or value.startswith("-") and value != "-"):
            return None
        values.setdefault(setting.key, []).append(value)
    if app is None:
        return None
    given = {row.key: tuple(values[row.key]) if row.multiple else values[row.key][0]
             for row in S.SETTINGS if row.key in values}
    return app, given, []


def _plain_flags():
    """``{flag: (setting, switch)}``: ``switch`` is the value a switch sets
    (True, or False for its ``--no-`` spelling), None for a flag that takes a
    value; ``--version`` and the commands are not here."""
    flags = {}
    for row in S.SETTINGS:
        if row.type != schema.BOOL:
            flags.update((flag, (row, None)) for flag in row.flags)
        elif row.key not in _COMMANDS and row.name != "version":
            for spelling in row.flags:
                on, _, off = spelling.partition("/")
                flags[on] = (row, True)
                if off:
                    flags[off] = (row, False)
    return flags


def parse_apart(args, environ):
    """``(app, given, cmd_args)`` parsed by ``config.cmdline`` in a child process.

    click (and the parser built from the table) then never take memory in
    this process, hence in the workers it forks: a forked worker's resident
    set includes every page of the arbiter. The child's ``--help`` or
    ``--version`` output is written here; its ``SystemExit`` and
    ``UsageError`` are raised here.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child: parse, report, exit
        os.close(read_end)
        _report(write_end, args, environ)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    status = os.waitpid(pid, 0)[1]
    if not data:                                    # the child died before reporting
        raise AppServerError("parsing the command line failed: the parser process "
                             "ended with status %d (a negative status is the signal "
                             "that killed it)" % os.waitstatus_to_exitcode(status))
    outcome = json.loads(data.decode("utf-8"))
    sys.stdout.write(outcome.get("stdout", ""))
    sys.stderr.write(outcome.get("stderr", ""))
    if "exit" in outcome:
        raise SystemExit(outcome["exit"])
    if "usage" in outcome:
        raise UsageError(outcome["usage"])
    app, given, cmd_args = outcome["parsed"]
    return app, _tuples(given), [(var, _tuples(options)) for var, options in cmd_args]


def _report(fd, args, environ):
    """In the child: parse, write the outcome as JSON to ``fd``, exit."""
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            from appserver.config import cmdline
            app, given = cmdline.parse(args)
            outcome = {"parsed": (app, given, cmdline.cmd_args(environ))}
    except SystemExit as exc:                       # --help, --version
        outcome = {"exit": exc.code or 0}
    except UsageError as exc:
        outcome = {"usage": str(exc)}
    except BaseException as exc:                    # a bug: say what it was
        outcome = {"exit": 1}
        err.write("Error: parsing the command line failed: %s: %s\n"
                  % (type(exc).__name__, exc))
    outcome.update(stdout=out.getvalue(), stderr=err.getvalue())
    with os.fdopen(fd, "wb") as pipe:
        pipe.write(json.dumps(outcome).encode("utf-8"))
    os._exit(0)


def _tuples(options):
    """JSON made the repeatable options' tuples lists; make them tuples again."""
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in options.items()}


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
