"""The command line of ``appserver``: an argparse parser made from the settings table.

``parse(args)`` returns ``(app, given)``: the APP argument (None when it is
missing) and ``{key: value}`` for the options given on the command line only,
so an option left out never hides a value from the config file or the
environment. Values stay strings (tuples of strings for a repeatable option,
booleans for a switch); ``appserver.convert`` checks them later. A switch
declared ``--x/--no-x`` is one option whose ``--no-`` spelling stores False.
A command line that cannot be parsed raises ``UsageError``; ``usage_text``
renders it the way ``--help`` starts (usage line, hint, message). ``--help``
lists the options section by section, in table order.

argparse (standard library) rather than click: importing click costs about
25 ms of start-up and more than 1 MiB of every worker's memory, since the
workers are forked from the process that parsed the command line.
"""

import argparse
import shutil
import sys

from appserver import __version__, convert
from appserver import settings as S
from appserver import settings_gunicorn as G
from appserver import settings_schema as schema
from appserver.errors import ConfigError

PROG = "appserver"
USAGE = "appserver [OPTIONS] APP"
DESCRIPTION = (
    "Serve the WSGI application APP with a pool of worker processes.\n\n"
    "APP is MODULE (its 'application', else its 'app'), MODULE:NAME, "
    "MODULE:NAME.ATTR or MODULE:FACTORY(literal arguments). Every option "
    "can also be set in the config file (-c FILE, else ./appserver.conf.py) "
    "or in its APPSERVER_* environment variable; the command line wins, "
    "then the environment, then the config file.\n\n"
    "'appserver status [--admin ADDR | --pid FILE] [--json]' shows what "
    "the workers of a running server are doing.")
_WIDTH = 100


class UsageError(ConfigError):
    """The command line itself is wrong (exit code 2, like a bad setting)."""

    def __init__(self, message, prog=PROG, usage=USAGE):
        super().__init__(message)
        self.prog, self.usage = prog, usage


def usage_text(err):
    """What a usage error prints: usage, where to look, the message."""
    return "Usage: %s\nTry '%s --help' for help.\n\nError: %s\n" % (
        err.usage, err.prog, err)


class Formatter(argparse.HelpFormatter):
    """click-like help: ``-w, --workers INT``, paragraphs kept, ``Usage:``."""

    def __init__(self, prog):
        width = min(_WIDTH, shutil.get_terminal_size().columns - 2)
        super().__init__(prog, width=width, max_help_position=31)

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix="Usage: ")

    def _format_action_invocation(self, action):
        if not action.option_strings:
            return super()._format_action_invocation(action)
        flags = ", ".join(getattr(action, "spellings", action.option_strings))
        if action.nargs == 0:
            return flags
        return "%s %s" % (flags, action.metavar or action.dest.upper())

    def _fill_text(self, text, width, indent):
        import textwrap                 # --help only
        indent += "  "
        return "\n\n".join(textwrap.fill(part, width, initial_indent=indent,
                                         subsequent_indent=indent)
                           for part in text.split("\n\n"))


class Switch(argparse.Action):
    """A boolean option: its ``--no-`` spellings store False, the others True."""

    def __init__(self, option_strings, dest, off=(), spellings=None, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.off = frozenset(off)
        self.spellings = spellings or option_strings

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string not in self.off)


class Version(argparse.Action):
    """``--version``: print it and exit, whatever else is on the line."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write("appserver %s\n" % __version__)
        parser.exit(0)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise ``UsageError`` instead of exiting."""

    def __init__(self, prog=PROG, usage=USAGE, **kwargs):
        super().__init__(prog=prog, usage=usage, add_help=False, allow_abbrev=False,
                         formatter_class=Formatter, argument_default=argparse.SUPPRESS,
                         **kwargs)

    def error(self, message):
        if message.endswith(": expected one argument"):
            flag = message[len("argument "):-len(": expected one argument")].split("/")[-1]
            message += " (for a value that starts with '-', write %s=VALUE)" % flag
        raise UsageError(message, self.prog, self.usage)

    def parse_exactly(self, args):
        """``parse_known_args``, then a clear error for what is left over."""
        namespace, extra = self.parse_known_args(args)
        unknown = [arg for arg in extra if arg.startswith("-") and arg != "-"]
        if unknown:
            self.error(_no_such_option(unknown[0].split("=", 1)[0], self._option_names()))
        if extra:
            self.error("unexpected extra argument %r; only one APP can be served" % extra[0])
        return vars(namespace)

    def _option_names(self):
        return [name for action in self._actions for name in action.option_strings]


def _no_such_option(flag, known):
    import difflib                      # error messages only
    close = difflib.get_close_matches(flag, known, n=1)
    hint = "; did you mean %s?" % close[0] if close else "; see --help"
    return "no such option %s%s" % (flag, hint)


def _help(setting):
    default = convert.default_text(setting)
    if setting.env:
        return "%s [env: %s; default: %s]" % (setting.help, setting.env, default)
    if setting.default not in (None, False) or setting.default_doc:
        return "%s [default: %s]" % (setting.help, default)
    return setting.help


def _add_option(group, setting):
    """The option of one setting, its flags and Gunicorn's spellings."""
    help_text = _help(setting).replace("%", "%%")
    if setting.name == "version":
        group.add_argument(*setting.flags, action=Version, help=help_text)
        return
    if setting.type != schema.BOOL:
        group.add_argument(*setting.flags, *setting.aliases, dest=setting.key,
                           metavar=setting.metavar, help=help_text,
                           action="append" if setting.multiple else "store")
        return
    on, off, spellings = [], [], []
    for flag in setting.flags:
        yes, _, no = flag.partition("/")
        on.append(yes)
        off.extend([no] if no else [])
        spellings.append(flag.replace("/", " / "))
    group.add_argument(*on, *off, *setting.aliases, dest=setting.key, action=Switch,
                       off=off, spellings=spellings, help=help_text)


def build():
    """The ``appserver`` parser: APP, then one option per setting by section."""
    parser = Parser(description=DESCRIPTION)
    parser.add_argument("app", nargs="?", metavar="APP", help=argparse.SUPPRESS)
    groups = {section: parser.add_argument_group(section) for section in schema.SECTIONS}
    for setting in S.SETTINGS:
        _add_option(groups[setting.section], setting)
    groups[schema.COMMAND].add_argument("-h", "--help", action="help",
                                   help="Show this message and exit.")
    _add_gunicorn_flags(parser)
    return parser


_ACTIONS = {G.VALUE: {"action": "store"}, G.APPEND: {"action": "append"},
            G.TRUE: {"action": "store_const", "const": True},
            G.FALSE: {"action": "store_const", "const": False}}


def _add_gunicorn_flags(parser):
    """Gunicorn's flags that appserver spells differently, hidden from --help;
    their values go through ``settings_gunicorn`` (a flag both servers use
    keeps appserver's meaning)."""
    taken = set(parser._option_string_actions)
    for setting in G.GUNICORN:
        flags = [flag for flag in setting.flags if flag not in taken]
        if flags:
            parser.add_argument(*flags, dest=setting.name, help=argparse.SUPPRESS,
                                **_ACTIONS[setting.action])


def parse(args):
    """``(app, given)`` from the command-line arguments (without the program name)."""
    given = build().parse_exactly(args)
    app = given.pop("app", None)
    return app, {key: tuple(value) if isinstance(value, list) else value
                 for key, value in given.items()}
