"""Render docs/settings.md from the settings table.

``render()`` returns the Markdown reference of every setting, grouped by
section: name, command-line flags, environment variable, config-file key,
type, default and help. ``python -m appserver.config.docs > docs/settings.md``
regenerates the file; a test fails when the file and ``render()`` differ.
"""
from __future__ import annotations

import sys

from appserver.config import settings as S
from appserver.config import schema
from appserver.config.convert import default_text, describe
from appserver.config.schema import Setting

REGENERATE = "python -m appserver.config.docs > docs/settings.md"

_INTRO = """\
# Settings

<!-- Generated from appserver/config/settings.py; do not edit. Regenerate with:
     {command} -->

Every setting can be given, from lowest to highest precedence:

1. in the **config file**, a Python file (`-c FILE`, else `./appserver.conf.py`
   or, failing that, `./gunicorn.conf.py` in the current directory if it
   exists), as `key = value` with the underscored key (`graceful_timeout =
   60`); names starting with `_`, modules, functions and classes are ignored;
2. in the **environment**, as `APPSERVER_<NAME>` (`APPSERVER_GRACEFUL_TIMEOUT=60`);
   repeatable settings take a comma-separated list;
3. in `GUNICORN_CMD_ARGS`, then `APPSERVER_CMD_ARGS`: command-line options in
   an environment variable (`APPSERVER_CMD_ARGS="--workers 3 -c prod.py"`);
   reading `GUNICORN_CMD_ARGS` is logged once at start;
4. on the **command line** (`--graceful-timeout 60`).

The config file also reads Gunicorn's settings, in Gunicorn's spelling and
value types (`keepalive = 2`, `umask = 0o027`, `raw_env = [...]`), and
Gunicorn's flags work on the command line; [migrating.md](migrating.md) says
what each becomes. Other names in the config file are ignored, as Gunicorn
does, unless close to a setting's name (`wokers`): that is an error. An
unknown `APPSERVER_*` variable is an error, except the variables Kubernetes
makes for a Service named `appserver` or `appserver-*`
(`APPSERVER_SERVICE_HOST=10.0.0.1`, `APPSERVER_PORT=tcp://...` and the like,
recognised by name and value), which are ignored. `appserver APP
--print-config` shows each value and where it came from.

Shell completion of options: `eval "$(_APPSERVER_COMPLETE=bash_source appserver)"`
(or `zsh_source`, `fish_source`), for example in `~/.bashrc`.
"""


def render() -> str:
    """The whole of docs/settings.md."""
    parts = [_INTRO.format(command=REGENERATE)]
    for section in schema.SECTIONS:
        parts.append("## %s\n" % section)
        parts.extend(_setting(s) for s in S.SETTINGS if s.section == section)
    return "\n".join(parts)


def _setting(setting: Setting) -> str:
    rows = [("Command line", _flags(setting))]
    if setting.cli_only:
        rows.append(("Environment / config file", "command line only"))
    else:
        rows.append(("Environment", "`%s`" % setting.env))
        rows.append(("Config file", "`%s`" % setting.key))
    rows.append(("Type", _type(setting)))
    rows.append(("Default", _code_or_text(default_text(setting))))
    lines = ["### `%s`\n" % setting.name, setting.help + "\n",
             "| | |", "|---|---|"]
    lines += ["| %s | %s |" % (label, value.replace("|", "\\|"))
              for label, value in rows]
    return "\n".join(lines) + "\n"


def _flags(setting: Setting) -> str:
    flags = [f for decl in setting.flags for f in decl.split("/")]
    metavar = " " + setting.metavar if setting.metavar else ""
    text = ", ".join("`%s%s`" % (flag, metavar) for flag in flags)
    if setting.aliases:
        text += " (also %s, Gunicorn's spelling)" % ", ".join(
            "`%s`" % alias for alias in setting.aliases)
    return text


def _type(setting: Setting) -> str:
    text = describe(setting)
    return text + " (repeatable)" if setting.multiple else text


def _code_or_text(text: str) -> str:
    return "`%s`" % text if " " not in text else text


if __name__ == "__main__":
    sys.stdout.write(render())
