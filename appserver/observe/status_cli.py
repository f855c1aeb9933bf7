"""``appserver status``: what every worker is doing, from the admin listener.

``main(args)`` fetches ``/status`` from a running arbiter's admin
listener and prints a table (pid, state, requests served, connections held,
current request, its age, heartbeat age, RSS; with ``--threads``, a row per
thread under its worker, numbered ``WORKER.THREAD``), or the JSON itself
with ``--json``. Where the
listener is: ``--admin ADDR`` (``HOST:PORT``, ``unix:PATH`` or a URL), else
``--pid FILE`` (the arbiter writes its admin URL to ``FILE.admin``), else the
``admin-bind`` and then ``pid`` settings of the config file and environment.
Exit codes: 0, 1 when the arbiter cannot be reached, 2 for a usage error.
``cli.main`` sends ``appserver status ...`` here; ``render(snapshot)`` is
the pure table.
"""

import argparse
import http.client
import json
import shutil
import socket
import sys

from appserver.config import loading
from appserver.observe import status
from appserver.errors import AppServerError, ConfigError, UsageError

_WIDTH = 100            # as appserver --help (config.cmdline)
_COLUMNS = ("#", "PID", "STATE", "REQS", "CONNS", "REQUEST", "AGE", "BEAT", "RSS")


def _mib(rss):
    return "%.1fM" % (rss / 1048576.0) if rss else "-"


def _seconds(value):
    return "-" if value is None else "%.1fs" % value


def render(snap):
    """The status table of a ``/status`` snapshot, as text."""
    rows = [_COLUMNS]
    for w in snap["workers"]:
        request = w["request"] or "-"
        if w.get("retiring"):
            request += "  [retiring: %s]" % w["retiring"]
        rows.append((str(w["number"]), str(w["pid"]), w["state"], str(w["requests"]),
                     str(w.get("connections", "-")), request, _seconds(w["request_seconds"]),
                     _seconds(w["heartbeat_age"]), _mib(w["rss"])))
        for t in w.get("threads") or ():
            rows.append(("%d.%d" % (w["number"], t["thread"]), "", t["state"], "", "",
                         t["request"] or "-", _seconds(t["request_seconds"]), "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = ["arbiter %s  app %s  workers %d/%d  %s" % (
        snap["pid"], snap["app"], len(snap["workers"]), snap["workers_wanted"],
        "draining" if snap["draining"] else "ready" if snap["ready"] else "booting")]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def find_admin(admin, pid_file, environ=None):
    """The admin address to ask, from the options or the configuration."""
    if admin:
        return admin
    if pid_file is None:
        cfg = loading.load(None, {}, environ)
        if cfg.admin_bind and not cfg.admin_bind.endswith(":0"):
            return cfg.admin_bind
        pid_file = cfg.pid
    if not pid_file:
        raise ConfigError("no admin listener to ask: give --admin ADDR or --pid FILE "
                          "(or set admin_bind in the config)")
    path = status.admin_file(pid_file)
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        raise ConfigError("cannot read %s (%s): is the arbiter running with "
                          "--pid and --admin-bind?" % (path, exc.strerror)) from None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def fetch(address, path="/status", timeout=5.0):
    """GET ``path`` from the admin listener; returns the body bytes."""
    address = address.strip()
    for scheme in ("http://",):
        if address.startswith(scheme):
            address = address[len(scheme):].rstrip("/")
    if address.startswith("unix:"):
        conn = _UnixConnection(address[5:], timeout)
    else:
        host, _, port = address.rpartition(":")
        conn = http.client.HTTPConnection(host.strip("[]") or "127.0.0.1",
                                          int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise OSError("%s answered %d %s" % (path, resp.status, resp.reason))
    return body


class Formatter(argparse.HelpFormatter):
    """click-like help, as ``appserver --help``: ``--admin ADDRESS``, ``Usage:``."""

    def __init__(self, prog):
        width = min(_WIDTH, shutil.get_terminal_size().columns - 2)
        super().__init__(prog, width=width, max_help_position=31)

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix="Usage: ")

    def _format_action_invocation(self, action):
        if not action.option_strings:
            return super()._format_action_invocation(action)
        flags = ", ".join(action.option_strings)
        if action.nargs == 0:
            return flags
        return "%s %s" % (flags, action.metavar or action.dest.upper())


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise ``UsageError`` instead of exiting."""

    def __init__(self, prog, usage, **kwargs):
        super().__init__(prog=prog, usage=usage, add_help=False, allow_abbrev=False,
                         formatter_class=Formatter, argument_default=argparse.SUPPRESS,
                         **kwargs)

    def error(self, message):
        raise UsageError(message, self.prog, self.usage)

    def parse_exactly(self, args):
        """``parse_known_args``, then a clear error for what is left over."""
        namespace, extra = self.parse_known_args(args)
        if extra:
            self.error("unexpected argument %r; see --help" % extra[0])
        return vars(namespace)


def _parser():
    parser = Parser(prog="appserver status", usage="appserver status [OPTIONS]",
                    description="Show what every worker of a running appserver is doing.")
    group = parser.add_argument_group("Options")
    group.add_argument("--admin", metavar="ADDRESS",
                       help="The arbiter's admin listener: HOST:PORT, unix:PATH or a URL.")
    group.add_argument("--pid", dest="pid_file", metavar="FILE",
                       help="The arbiter's pid file; its admin URL is read from FILE.admin.")
    group.add_argument("--json", dest="as_json", action="store_true",
                       help="Print the /status JSON.")
    group.add_argument("--timeout", type=_timeout, metavar="SECONDS",
                       help="How long to wait for the answer. [default: 5.0]")
    group.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    return parser


def _timeout(text):
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise argparse.ArgumentTypeError("expected a number of seconds > 0, got %r" % text)
    return value


def main(args):
    """``appserver status ARGS``; returns 0 or raises the error to report
    (``UsageError``, a config error, or ``AppServerError`` with exit code 1
    when the arbiter cannot be reached): ``cli.main`` reports it."""
    opts = _parser().parse_exactly(args)
    address = find_admin(opts.get("admin"), opts.get("pid_file"))
    try:
        snap = json.loads(fetch(address, timeout=opts.get("timeout", 5.0)))
    except (OSError, ValueError) as exc:
        raise AppServerError("cannot get the status from %s: %s" % (address, exc)) from None
    if opts.get("as_json"):
        print(json.dumps(snap, indent=1))
    else:
        sys.stdout.write(render(snap))
    return 0
