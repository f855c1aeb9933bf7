"""The appserver command: options from the table, sources, errors and exit codes."""

import collections
import contextlib
import io
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from appserver import __version__, cli
from appserver.config import settings as S
from appserver.config import schema
from appserver.errors import WorkerBootError

REPO = Path(__file__).resolve().parent.parent
APPS_DIR = Path(__file__).resolve().parent / "loader_apps"


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """An empty cwd and no APPSERVER_*, PORT or WEB_CONCURRENCY variables."""
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("APPSERVER_") or var in ("PORT", "WEB_CONCURRENCY"):
            monkeypatch.delenv(var)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("la_")]:
        del sys.modules[name]


Result = collections.namedtuple("Result", "exit_code stdout stderr")


def invoke(*args, env=None):
    """Run ``cli.main`` in-process with ``env`` added to the environment."""
    out, err = io.StringIO(), io.StringIO()
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exit:
                code = exit.code
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
    return Result(code, out.getvalue(), err.getvalue())


def printed_config(result):
    """{key: (value, source)} from --print-config output."""
    assert result.exit_code == 0, result.stdout + result.stderr
    rows = {}
    for line in result.stdout.splitlines()[2:]:
        match = re.match(r"(\w+) += (.*?) +# (.*)$", line)
        rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


# --version, --help, missing APP

def test_version_needs_no_app(clean):
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == "appserver %s\n" % __version__ == "appserver 0.1.0\n"
    assert invoke("-v") == result                   # Gunicorn's spelling


def test_missing_app_is_a_usage_error_with_examples(clean):
    result = invoke("-w", "2")
    assert result.exit_code == 2
    assert "Usage: appserver [OPTIONS] APP" in result.stderr
    assert "missing the APP argument" in result.stderr
    assert "appserver myproj.wsgi" in result.stderr
    assert "appserver pkg.mod:app" in result.stderr


def test_help_is_grouped_by_section_in_table_order(clean):
    result = invoke("--help")
    assert result.exit_code == 0
    headings = [line[:-1] for line in result.stdout.splitlines()
                if line.endswith(":") and not line.startswith(" ")]
    assert headings == list(schema.SECTIONS)


@pytest.mark.parametrize("setting", S.SETTINGS, ids=lambda s: s.name)
def test_help_lists_each_option_in_its_section(clean, setting):
    out = invoke("--help").stdout
    start = out.index("\n%s:\n" % setting.section)
    end = out.find("\n\n", start + 1)
    section = out[start:end if end != -1 else len(out)]
    flag = setting.flags[-1].split("/")[0]
    assert re.search(r"^  .*%s\b" % re.escape(flag), section, re.M)


def test_help_shows_env_var_and_default(clean):
    out = " ".join(invoke("--help").stdout.split())
    assert ("Number of worker processes serving requests, or 'auto' for 2 x CPUs + 1 "
            "within the CPU and memory limits of the cgroup (see docs/deploy.md). "
            "[env: APPSERVER_WORKERS; default: 1, or $WEB_CONCURRENCY when set]") in out
    assert "[env: APPSERVER_GRACEFUL_TIMEOUT; default: 30]" in out
    assert "-c, --config FILE" in out


# Sources through the command line

def test_print_config_shows_sources(clean):
    (clean / "appserver.conf.py").write_text("timeout = 12\nworkers = 2\n")
    result = invoke("la_simple:app", "--print-config", "-w", "3", "-b", "a:1",
                    "-b", "[::1]:2", env={"APPSERVER_BACKLOG": "64"})
    rows = printed_config(result)
    conf = str(clean / "appserver.conf.py")
    assert rows["workers"] == ("3", "command line")
    assert rows["bind"] == ("['a:1', '[::1]:2']", "command line")
    assert rows["timeout"] == ("12", "config file " + conf)
    assert rows["backlog"] == ("64", "environment APPSERVER_BACKLOG")
    assert rows["keep_alive"] == ("5.0", "default")
    assert result.stdout.startswith("# app: la_simple:app\n# config file: " + conf)


def test_gunicorn_spellings_of_renamed_flags_are_accepted(clean):
    result = invoke("la_simple:app", "--print-config", "--access-logformat", "%(r)s",
                    "--log-file", "/tmp/e.log", "--limit-request-field_size", "100",
                    "--proxy-allow-from", "10.0.0.1")
    rows = printed_config(result)
    assert rows["access_log_format"] == ("'%(r)s'", "command line")
    assert rows["error_logfile"] == ("'/tmp/e.log'", "command line")
    assert rows["limit_request_field_size"] == ("100", "command line")
    assert rows["proxy_allow_ips"] == ("'10.0.0.1'", "command line")


def test_options_not_given_do_not_override_lower_sources(clean):
    (clean / "appserver.conf.py").write_text(
        "workers = 2\npreload = True\nbind = ['f:1']\nenv = ['A=1']\n")
    rows = printed_config(invoke("x:app", "--print-config"))
    assert [rows[k][1].split()[0] for k in ("workers", "preload", "bind", "env")] == [
        "config"] * 4


def test_flag_can_switch_a_file_setting_off(clean):
    (clean / "appserver.conf.py").write_text("preload = True\n")
    rows = printed_config(invoke("x:app", "--print-config", "--no-preload"))
    assert rows["preload"] == ("False", "command line")


def test_config_option_and_port(clean):
    (clean / "other.py").write_text("workers = 7\n")
    rows = printed_config(invoke("x:app", "--print-config", "-c", "other.py",
                                 env={"PORT": "5000", "WEB_CONCURRENCY": "3"}))
    assert rows["workers"] == ("7", "config file " + str(clean / "other.py"))
    assert rows["bind"] == ("['0.0.0.0:5000']", "environment PORT")


@pytest.mark.parametrize("args", [
    ("--workers=4", "--daemon"), ("-w4", "-D"), ("-Dw4",), ("-w", "4", "-D", "--no-daemon", "-D"),
])
def test_option_spellings(clean, args):
    rows = printed_config(invoke("x:app", "--print-config", *args))
    assert rows["workers"] == ("4", "command line")
    assert rows["daemon"] == ("True", "command line")


def test_negative_switch_and_help_show_both_spellings(clean):
    rows = printed_config(invoke("x:app", "--print-config", "--no-daemon"))
    assert rows["daemon"] == ("False", "command line")
    assert "  -D, --daemon / --no-daemon " in invoke("--help").stdout


@pytest.mark.parametrize("args, message", [
    (("x:app", "--wrokers", "3"), "no such option --wrokers; did you mean --workers?"),
    (("x:app", "--work", "3"), "no such option --work; did you mean --workers?"),
    (("x:app", "--zzzzzz=1"), "no such option --zzzzzz; see --help"),
    (("a:app", "b:app"), "unexpected extra argument 'b:app'; only one APP can be served"),
    (("x:app", "-w"), "Option '-w' requires an argument."),
    (("x:app", "--wrkers=3"), "no such option --wrkers; did you mean --workers?"),
])
def test_usage_errors_exit_2_with_usage_and_message(clean, args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr == ("Usage: appserver [OPTIONS] APP\nTry 'appserver --help' for "
                             "help.\n\nError: %s\n" % message)
    assert result.stdout == ""


def test_status_usage_error_exits_2(clean):
    result = invoke("status", "--timeout", "soon")
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: appserver status [OPTIONS]\n")
    assert result.stderr.endswith(
        "Error: argument --timeout: expected a number of seconds > 0, got 'soon'\n")


def test_status_without_an_address_says_what_to_give(clean):
    result = invoke("status")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no admin listener to ask: give --admin ADDR")


def test_bad_command_line_value_exits_2_naming_the_flag(clean):
    result = invoke("x:app", "--print-config", "--workers", "many")
    assert result.exit_code == 2
    assert result.stderr == ("Error: workers: expected a whole number >= 1 or auto, "
                             "got 'many' (from --workers)\n")
    assert result.stdout == ""


def test_check_config_in_process(clean):
    result = invoke("la_simple:make_app()", "--check-config",
                    "--pythonpath", str(APPS_DIR))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ("config OK: app la_simple:make_app() loaded from %s; "
                             "config file: none\n" % (APPS_DIR / "la_simple.py"))


# The normal run hands the Config to the arbiter

@pytest.fixture
def fake_arbiter(monkeypatch):
    """Replace appserver.arbiter with a recorder; ``.error`` makes run() raise."""
    module = types.ModuleType("appserver.arbiter")
    module.seen = []
    module.error = None

    class Arbiter:
        def __init__(self, cfg):
            module.seen.append((cfg, os.getcwd()))

        def run(self):
            if module.error:
                raise module.error
            return 0

    module.Arbiter = Arbiter
    monkeypatch.setitem(sys.modules, "appserver.arbiter", module)
    return module


def test_run_prepares_and_runs_the_arbiter(clean, fake_arbiter):
    (clean / "proj").mkdir()
    (clean / "proj" / "x.py").write_text("")
    result = invoke("x:app", "-w", "3", "--chdir", "proj")
    assert result.exit_code == 0, result.stderr
    [(cfg, cwd)] = fake_arbiter.seen
    assert (cfg.app, cfg.workers) == ("x:app", 3)
    assert cwd == str(clean / "proj")


def test_arbiter_errors_become_message_and_exit_code(clean, fake_arbiter):
    fake_arbiter.error = WorkerBootError("workers keep failing to boot")
    (clean / "x.py").write_text("")
    result = invoke("x:app")
    assert result.exit_code == 3
    assert result.stderr == "Error: workers keep failing to boot\n"


# Errors through a real process

def run_appserver(*args, env=None, cwd=APPS_DIR):
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("APPSERVER_") and k not in ("PORT", "WEB_CONCURRENCY")}
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "appserver", *args], cwd=str(cwd),
                          env=environ, capture_output=True, text=True, timeout=60)


def test_subprocess_check_config_ok():
    proc = run_appserver("la_pkg.wsgi", "--check-config")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("config OK: app la_pkg.wsgi loaded from %s; config file: none\n"
                           % (APPS_DIR / "la_pkg" / "wsgi.py"))


def test_subprocess_missing_module():
    proc = run_appserver("la_not_there:app", "--check-config")
    assert proc.returncode == 4
    assert proc.stderr.startswith("Error: module 'la_not_there' not found. Searched sys.path:")
    assert "\n  %s\n" % APPS_DIR in proc.stderr


def test_subprocess_import_error_shows_traceback():
    proc = run_appserver("la_raises", "--check-config")
    assert proc.returncode == 4
    assert proc.stderr.startswith("Error: module 'la_raises' was found, but importing it raised")
    assert "Traceback (most recent call last):" in proc.stderr
    assert 'la_raises.py", line 7, in _fail' in proc.stderr
    assert proc.stderr.endswith("RuntimeError: boom while importing la_raises\n")


def test_subprocess_missing_attribute():
    proc = run_appserver("la_simple:nope", "--check-config")
    assert proc.returncode == 4
    assert proc.stderr.startswith("Error: module 'la_simple' has no attribute 'nope'")
    assert "app, broken_factory, make_app, none_factory." in proc.stderr


def test_subprocess_not_callable():
    proc = run_appserver("la_simple:NOT_CALLABLE", "--check-config")
    assert proc.returncode == 4
    assert "Error: 'la_simple:NOT_CALLABLE' is not callable: it is a str" in proc.stderr


def test_subprocess_unknown_setting_in_config_file(tmp_path):
    (tmp_path / "appserver.conf.py").write_text("graceful_timout = 5\n")
    proc = run_appserver("la_simple:app", "--check-config", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == ("Error: unknown setting 'graceful_timout' in %s; did you "
                           "mean 'graceful_timeout'? (a helper name of your own: start it "
                           "with '_')\n" % (tmp_path / "appserver.conf.py"))


def test_subprocess_unknown_setting_in_environment():
    proc = run_appserver("la_simple:app", "--check-config",
                         env={"APPSERVER_KEEPALIVE": "3"})
    assert proc.returncode == 2
    assert proc.stderr == ("Error: unknown setting 'APPSERVER_KEEPALIVE' in the "
                           "environment; did you mean 'APPSERVER_KEEP_ALIVE'?\n")


@pytest.mark.parametrize("command", [("--check-config",), ()])
def test_subprocess_malformed_bind_exits_2(command):
    proc = run_appserver("la_simple:app", *command, "--bind", "nonsense:port")
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: bad bind address 'nonsense:port' (from --bind): ")
    assert "expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("command", [("--check-config",), ()])
def test_subprocess_port_out_of_range_exits_2(command):
    proc = run_appserver("la_simple:app", *command, "--bind", "127.0.0.1:99999")
    assert proc.returncode == 2
    assert "the port must be a number from 0 to 65535, not '99999'" in proc.stderr
    assert "Listening" not in proc.stderr


def test_subprocess_version():
    proc = run_appserver("--version")
    assert (proc.returncode, proc.stdout) == (0, "appserver 0.1.0\n")


# Shell completion (click)

def _complete(words, cword):
    env = dict(os.environ, COMP_WORDS=words, COMP_CWORD=str(cword),
               _APPSERVER_COMPLETE="bash_complete", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "appserver"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_shell_completion_of_options_and_the_status_command():
    assert _complete("appserver --work", 1) == ["plain,--workers", "plain,--worker-class"]
    assert "plain,status" in _complete("appserver st", 1)
    assert _complete("appserver --worker-tm", 1) == []      # Gunicorn's: hidden
    script = subprocess.run([sys.executable, "-m", "appserver"], timeout=30,
                            env=dict(os.environ, _APPSERVER_COMPLETE="bash_source",
                                     PYTHONPATH=str(REPO)),
                            capture_output=True, text=True).stdout
    assert "complete -o nosort -F _appserver_completion appserver" in script


def test_parse_apart_returns_what_the_parser_gives(clean):
    app, given, cmd_args = cli.parse_apart(
        ["x:app", "-w", "2", "-b", "a:1", "-b", "b:2", "--preload", "-k", "sync"],
        {"GUNICORN_CMD_ARGS": "-e A=1"})
    assert app == "x:app"
    assert given == {"workers": "2", "bind": ("a:1", "b:2"), "preload": True,
                     "worker_class": "sync"}
    assert cmd_args == [("GUNICORN_CMD_ARGS", {"env": ("A=1",)})]


def test_parse_apart_says_when_the_parser_process_died(clean, monkeypatch):
    monkeypatch.setattr(cli, "_report", lambda fd, args, environ: os._exit(3))
    result = invoke("x:app", "-w4")
    assert result.exit_code == 1
    assert result.stderr == ("Error: parsing the command line failed: the parser "
                             "process ended with status 3 (a negative status is the "
                             "signal that killed it)\n")


# A plain command line is read without the parser process

def _plain_lines():
    """Command lines of APP and flags, each flag of the table in each form."""
    lines = []
    for row in S.SETTINGS:
        if row.type == schema.BOOL and row.key not in cli._COMMANDS + ("version",):
            lines += [[part, "x:app"] for flag in row.flags for part in flag.split("/")]
        for flag in row.flags if row.type != schema.BOOL else ():
            lines += [[flag, "v1", "x:app"], ["x:app", flag, "v=1"], ["x:app", flag, "-"]]
            if flag.startswith("--"):
                lines.append(["x:app", flag + "=v=1"])
            if row.multiple:
                lines.append([flag, "v1", "x:app", flag, "v2"])
    return lines + [["x:app"], ["--bind", "127.0.0.1:1", "--workers", "2", "hello:application"],
                    ["-D", "--preload", "x:app", "--access-logfile", "-", "-w", "3"]]


def test_plain_command_lines_give_what_the_parser_gives(clean):
    from appserver.config import cmdline
    for args in _plain_lines():
        assert cli.plain_args(args, {}) == cmdline.parse(args) + ([],), args


@pytest.mark.parametrize("args", [
    [], ["-w", "2"], ["x:app", "--preload=1"], ["x:app", "-Dw4"], ["x:app", "-D", "-D"],
    ["x:app", "--preload", "--no-preload"], ["x:app", "--print-config"],
    ["x:app", "--check-config"], ["x:app", "--help"], ["--version"], ["x:app", "-w4"],
    ["x:app", "-w"], ["x:app", "--workers="], ["x:app", "--workers", "-1"],
    ["x:app", "-w", "2", "-w", "3"], ["a:app", "b:app"], ["x:app", "--"], ["-", "x:app"],
    ["x:app", "--wrokers", "3"], ["x:app", "--worker-connections", "5"], [""],
])
def test_plain_args_leaves_every_other_command_line_to_the_parser(args):
    assert cli.plain_args(args, {}) is None


@pytest.mark.parametrize("var", S.CMD_ARGS_ENV)
def test_plain_args_leaves_cmd_args_variables_to_the_parser(var):
    assert cli.plain_args(["x:app"], {var: "-w 2"}) is None
    assert cli.plain_args(["x:app"], {var: " "}) == ("x:app", {}, [])


def test_a_plain_command_line_runs_without_the_parser_process(clean, fake_arbiter,
                                                              monkeypatch):
    monkeypatch.setattr(cli, "_report", lambda fd, args, environ: os._exit(3))
    (clean / "x.py").write_text("")
    result = invoke("x:app", "-w", "3", "--bind", "127.0.0.1:0", "--bind=unix:s", "--preload")
    assert result.exit_code == 0, result.stderr
    [(cfg, _)] = fake_arbiter.seen
    assert (cfg.app, cfg.workers, cfg.preload) == ("x:app", 3, True)
    assert [str(b) for b in cfg.bind] == ["127.0.0.1:0", "unix:s"]
