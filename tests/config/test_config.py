"""loading.load: every source, their precedence, errors naming their source."""

import os

import pytest

from appserver.config import loading
from appserver.config import settings as S
from appserver.errors import EXIT_CONFIG, BadBindAddress, ConfigError


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """An empty working directory; the process's cwd too."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_conf(directory, text, name=loading.DEFAULT_CONFIG_FILE):
    path = directory / name
    path.write_text(text)
    return str(path)


def load(cwd, cli=None, environ=None, app="pkg.mod:app"):
    return loading.load(app, cli, environ or {}, str(cwd))


def config_error(cwd, cli=None, environ=None, error=ConfigError):
    with pytest.raises(error) as info:
        load(cwd, cli, environ)
    return str(info.value)


# Defaults

def test_defaults_come_from_the_table(cwd):
    cfg = load(cwd)
    for setting in S.CONFIG_SETTINGS:
        assert getattr(cfg, setting.key) == setting.default, setting.name
        assert cfg.source(setting.name) == "default"
    assert cfg.bind == ("127.0.0.1:8000",)
    assert cfg.workers == 1
    assert cfg.config_file is None
    assert cfg.app == "pkg.mod:app"


def test_port_sets_the_default_bind(cwd):
    cfg = load(cwd, environ={"PORT": "9000"})
    assert cfg.bind == ("0.0.0.0:9000",)
    assert cfg.source("bind") == "environment PORT"


def test_web_concurrency_sets_the_default_workers(cwd):
    cfg = load(cwd, environ={"WEB_CONCURRENCY": "4"})
    assert cfg.workers == 4
    assert cfg.source("workers") == "environment WEB_CONCURRENCY"


def test_bad_web_concurrency_names_it(cwd):
    message = config_error(cwd, environ={"WEB_CONCURRENCY": "lots"})
    assert message == ("workers: expected a whole number >= 1 or auto, got 'lots' "
                       "(from WEB_CONCURRENCY)")


def test_bad_port_is_a_bind_error(cwd):
    message = config_error(cwd, environ={"PORT": "http"}, error=BadBindAddress)
    assert "bad bind address '0.0.0.0:http' (from PORT)" in message


def test_port_and_web_concurrency_lose_to_explicit_settings(cwd):
    cfg = load(cwd, cli={"bind": ["unix:/tmp/s"]},
               environ={"PORT": "not checked", "WEB_CONCURRENCY": "4",
                        "APPSERVER_WORKERS": "2"})
    assert cfg.bind == ("unix:/tmp/s",)
    assert cfg.workers == 2
    assert cfg.source("workers") == "environment APPSERVER_WORKERS"


# Config file

def test_config_file_in_cwd_is_read(cwd):
    path = write_conf(cwd, "workers = 3\nbind = ['[::1]:8001', 'unix:/tmp/a.sock']\n")
    cfg = load(cwd)
    assert cfg.workers == 3
    assert cfg.bind == ("[::1]:8001", "unix:/tmp/a.sock")
    assert cfg.config_file == path
    assert cfg.source("workers") == "config file " + path
    assert cfg.source("timeout") == "default"


def test_config_file_from_cli_relative_to_cwd(cwd):
    write_conf(cwd, "workers = 3\n")
    (cwd / "conf").mkdir()
    path = write_conf(cwd / "conf", "workers = 5\n", "prod.py")
    cfg = load(cwd, cli={"config": "conf/prod.py"})
    assert cfg.workers == 5
    assert cfg.config_file == path


def test_missing_config_file_from_cli(cwd):
    message = config_error(cwd, cli={"config": "nope.py"})
    assert message == "config file nope.py does not exist (from --config)"


def test_config_file_ignores_private_names_modules_and_callables(cwd):
    write_conf(cwd, "import os\nfrom os import path\n_helper = 5\n"
                    "def on_starting(server):\n    pass\n"
                    "class Thing:\n    pass\n"
                    "workers = _helper\n")
    assert load(cwd).workers == 5


def test_config_file_values_are_python_values(cwd):
    write_conf(cwd, "preload = True\nkeep_alive = 2\nenv = 'A=one two'\npid = None\n"
                    "log_level = 'WARNING'\n")
    cfg = load(cwd)
    assert cfg.preload is True
    assert cfg.keep_alive == 2.0 and isinstance(cfg.keep_alive, float)
    assert cfg.env == ("A=one two",)
    assert cfg.pid is None
    assert cfg.log_level == "warning"


def test_unknown_setting_in_config_file_suggests(cwd):
    path = write_conf(cwd, "wokers = 2\n")
    message = config_error(cwd)
    assert message == ("unknown setting 'wokers' in %s; did you mean 'workers'? "
                       "(a helper name of your own: start it with '_')" % path)


def test_other_names_in_config_file_are_ignored_as_gunicorn_does(cwd):
    write_conf(cwd, "import multiprocessing\n"
                    "cores = multiprocessing.cpu_count()\n"
                    "zzz = 2\nBASE_DIR = '/srv'\nworkers = cores * 2 + 1\n")
    cfg = load(cwd)
    assert cfg.workers > 2
    assert cfg.notices == ()


def test_command_line_only_setting_in_config_file(cwd):
    write_conf(cwd, "check_config = True\n")
    cfg = load(cwd)
    assert cfg.check_config if hasattr(cfg, "check_config") else True
    assert len(cfg.notices) == 1
    assert cfg.notices[0].startswith("check_config (Gunicorn's setting, from config file ")
    assert "give --check-config on the command line" in cfg.notices[0]


def test_config_file_syntax_error_names_file_and_line(cwd):
    path = write_conf(cwd, "workers = 2\nbind = [\n")
    message = config_error(cwd)
    assert message.startswith("config file %s, line 2: SyntaxError: " % path)


def test_config_file_raising_names_file_line_and_error(cwd):
    path = write_conf(cwd, "workers = 2\n\ntimeout = 1 / 0\n")
    message = config_error(cwd)
    assert message == ("config file %s, line 3: ZeroDivisionError: division by zero"
                       % path)


def test_bad_value_in_config_file_names_it(cwd):
    path = write_conf(cwd, "timeout = 'soon'\n")
    assert config_error(cwd) == (
        "timeout: expected a whole number >= 0, got 'soon' (from config file %s)" % path)


# Environment

def test_environment_variables(cwd):
    cfg = load(cwd, environ={
        "APPSERVER_WORKERS": "4", "APPSERVER_BIND": "a:1, b:2,",
        "APPSERVER_PRELOAD": "yes", "APPSERVER_GRACEFUL_TIMEOUT": " 60 ",
        "APPSERVER_HEADER_TIMEOUT": "2.5", "APPSERVER_ENV": "A=1,B=2",
        "OTHER": "ignored"})
    assert (cfg.workers, cfg.graceful_timeout, cfg.header_timeout) == (4, 60, 2.5)
    assert cfg.bind == ("a:1", "b:2")
    assert cfg.env == ("A=1", "B=2")
    assert cfg.preload is True
    assert cfg.source("graceful-timeout") == "environment APPSERVER_GRACEFUL_TIMEOUT"


def test_unknown_environment_variable_suggests(cwd):
    message = config_error(cwd, environ={"APPSERVER_WOKERS": "2"})
    assert message == ("unknown setting 'APPSERVER_WOKERS' in the environment; "
                       "did you mean 'APPSERVER_WORKERS'?")


def test_upgrade_variables_are_not_settings(cwd):
    cfg = load(cwd, environ={"APPSERVER_LISTEN_FDS": "3,4", "APPSERVER_UPGRADE_FROM": "99"})
    assert cfg.as_dict() == load(cwd).as_dict()


def test_command_line_only_setting_has_no_environment_variable(cwd):
    message = config_error(cwd, environ={"APPSERVER_CHECK_CONFIG": "1"})
    assert message.startswith("unknown setting 'APPSERVER_CHECK_CONFIG' in the environment")


@pytest.mark.parametrize("var, raw, expected", [
    ("APPSERVER_WORKERS", "abc", "workers: expected a whole number >= 1"),
    ("APPSERVER_WORKERS", "0", "workers: expected a whole number >= 1"),
    ("APPSERVER_LIMIT_REQUEST_LINE", "8191",
     "limit-request-line: expected a whole number from 0 to 8190"),
    ("APPSERVER_HEADER_TIMEOUT", "0", "header-timeout: expected a number > 0"),
    ("APPSERVER_KEEP_ALIVE", "nan", "keep-alive: expected a number >= 0"),
    ("APPSERVER_PRELOAD", "maybe", "preload: expected true or false"),
    ("APPSERVER_LOG_LEVEL", "loud",
     "log-level: expected one of debug, info, warning, error, critical"),
    ("APPSERVER_ENV", "NOEQUALS", "env: expected KEY=VALUE"),
])
def test_bad_environment_value_names_the_variable(cwd, var, raw, expected):
    message = config_error(cwd, environ={var: raw})
    assert message.startswith(expected)
    assert message.endswith(", got %r (from %s)" % (raw, var))


def test_bad_bind_is_a_bad_setting_with_exit_code_2(cwd):
    with pytest.raises(BadBindAddress) as info:
        load(cwd, environ={"APPSERVER_BIND": "nonsense:port"})
    assert info.value.exit_code == EXIT_CONFIG == 2
    assert "bad bind address 'nonsense:port' (from APPSERVER_BIND)" in str(info.value)
    assert "expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N" in str(info.value)


# Command line and precedence

def test_command_line_values_as_typed(cwd):
    cfg = load(cwd, cli={"workers": "3", "graceful-timeout": "9",
                         "bind": ("a:1", "b:2"), "preload": True})
    assert (cfg.workers, cfg.graceful_timeout, cfg.preload) == (3, 9, True)
    assert cfg.bind == ("a:1", "b:2")
    assert cfg.source("workers") == "command line"


def test_command_line_none_means_not_given(cwd):
    cfg = load(cwd, cli={"workers": None}, environ={"APPSERVER_WORKERS": "2"})
    assert cfg.workers == 2


def test_bad_command_line_value_names_the_flag(cwd):
    message = config_error(cwd, cli={"max_requests": "-1"})
    assert message == "max-requests: expected a whole number >= 0, got '-1' (from --max-requests)"


def test_unknown_command_line_key(cwd):
    assert "unknown setting 'wrkers' on the command line" in config_error(
        cwd, cli={"wrkers": 1})


@pytest.mark.parametrize("key, file_value, env_value, cli_value, parsed", [
    ("workers", "2", "3", "4", (2, 3, 4)),
    ("keep_alive", "1.5", "2.5", "3.5", (1.5, 2.5, 3.5)),
    ("log_level", "'debug'", "error", "critical", ("debug", "error", "critical")),
    ("bind", "['f:1']", "e:1", ("c:1",), (("f:1",), ("e:1",), ("c:1",))),
])
def test_precedence_default_file_env_cli(cwd, key, file_value, env_value,
                                         cli_value, parsed):
    def value_and_source(cfg):
        return getattr(cfg, key), cfg.source(key)
    setting = S.BY_KEY[key]
    environ = {setting.env: env_value}
    assert value_and_source(load(cwd)) == (setting.default, "default")
    path = write_conf(cwd, "%s = %s\n" % (key, file_value))
    assert value_and_source(load(cwd)) == (parsed[0], "config file " + path)
    assert value_and_source(load(cwd, {}, environ)) == (
        parsed[1], "environment " + setting.env)
    assert value_and_source(load(cwd, {key: cli_value}, environ)) == (
        parsed[2], "command line")


# The Config object

def test_config_is_read_only(cwd):
    cfg = load(cwd)
    with pytest.raises(AttributeError):
        cfg.workers = 5
    with pytest.raises(AttributeError):
        del cfg.workers
    assert cfg.workers == 1


def test_as_dict_and_cli_are_kept(cwd):
    cfg = load(cwd, cli={"workers": "2"})
    assert list(cfg.as_dict()) == [s.key for s in S.CONFIG_SETTINGS]
    assert dict(cfg.cli) == {"workers": "2"}


def test_reload_rereads_the_config_file_and_keeps_the_command_line(cwd, tmp_path_factory):
    path = write_conf(cwd, "workers = 2\ntimeout = 5\n")
    cfg = loading.load("a:b", {"timeout": "7"}, {}, str(cwd))
    write_conf(cwd, "workers = 6\ntimeout = 5\n")
    os.chdir(str(tmp_path_factory.mktemp("elsewhere")))
    fresh = loading.reload(cfg, environ={})
    assert (fresh.workers, fresh.timeout, fresh.app) == (6, 7, "a:b")
    assert fresh.config_file == path
    assert fresh.cwd == cfg.cwd == str(cwd)


# print_config

def test_print_config_shows_values_and_sources_aligned(cwd):
    path = write_conf(cwd, "timeout = 10\n")
    cfg = load(cwd, cli={"workers": "3"}, environ={"APPSERVER_BACKLOG": "64"})
    lines = loading.print_config(cfg).splitlines()
    assert lines[:2] == ["# app: pkg.mod:app", "# config file: " + path]
    rows = {}
    for line in lines[2:]:
        key, _, rest = line.partition(" = ")
        value, _, source = rest.partition("  # ")
        rows[key.strip()] = (value.strip(), source)
    assert list(rows) == [s.key for s in S.CONFIG_SETTINGS]
    assert rows["workers"] == ("3", "command line")
    assert rows["timeout"] == ("10", "config file " + path)
    assert rows["backlog"] == ("64", "environment APPSERVER_BACKLOG")
    assert rows["bind"] == ("['127.0.0.1:8000']", "default")
    assert len({line.index(" = ") for line in lines[2:]}) == 1
    # values up to 40 characters are padded; a longer one pushes its comment
    assert len({line.index("  # ") for line in lines[2:]
                if len(line.partition(" = ")[2].partition("  # ")[0]) <= 40}) == 1


def test_print_config_output_is_a_config_file(cwd):
    cfg = load(cwd, cli={"bind": ["a:1", "b:2"], "env": ["X=1"], "preload": True})
    (cwd / "printed.py").write_text(loading.print_config(cfg))
    again = load(cwd, cli={"config": "printed.py"})
    assert again.as_dict() == cfg.as_dict()


# parse_bind

@pytest.mark.parametrize("value, parsed", [
    ("127.0.0.1:8000", ("tcp", "127.0.0.1", 8000)),
    ("localhost:0", ("tcp", "localhost", 0)),
    ("example.com:65535", ("tcp", "example.com", 65535)),
    ("[::1]:8000", ("tcp", "::1", 8000)),
    ("[fe80::1%eth0]:80", ("tcp", "fe80::1%eth0", 80)),
    ("unix:/run/app.sock", ("unix", "/run/app.sock")),
    ("unix:relative.sock", ("unix", "relative.sock")),
    ("fd://3", ("fd", 3)),
    # Gunicorn's forms, with Gunicorn's meaning
    ("tcp://127.0.0.1:8000", ("tcp", "127.0.0.1", 8000)),
    ("tcp://[::1]:9000", ("tcp", "::1", 9000)),
    ("unix:///run/app.sock", ("unix", "/run/app.sock")),
    ("0.0.0.0", ("tcp", "0.0.0.0", 8000)),
    ("localhost", ("tcp", "localhost", 8000)),
    ("[::1]", ("tcp", "::1", 8000)),
    (":8000", ("tcp", "0.0.0.0", 8000)),
    (":0", ("tcp", "0.0.0.0", 0)),
])
def test_parse_bind(value, parsed):
    assert loading.parse_bind(value) == parsed


@pytest.mark.parametrize("value, why", [
    ("nonsense:port", "the port must be a number from 0 to 65535, not 'port'"),
    ("localhost:", "the port must be a number from 0 to 65535, not ''"),
    ("tcp://", "the address is missing after 'tcp://'"),
    ("tcp://::1:80", "put an IPv6 address in brackets"),
    ("::1:8000", "put an IPv6 address in brackets"),
    ("[::1]8000", "an IPv6 address must be followed by ]:PORT"),
    ("[nope]:80", "'nope' is not an IPv6 address"),
    ("bad host:80", "'bad host' is not a host name or IPv4 address"),
    ("a:70000", "not '70000'"),
    ("unix:", "the socket path is missing"),
    ("fd://three", "the file descriptor after 'fd://' must be a number"),
    ("", "it is empty"),
])
def test_parse_bind_errors_say_what_is_expected(value, why):
    with pytest.raises(BadBindAddress) as info:
        loading.parse_bind(value)
    message = str(info.value)
    assert message.startswith("bad bind address %r: " % value)
    assert why in message
    assert message.endswith("; expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N")
    assert info.value.exit_code == EXIT_CONFIG


def test_config_error_exit_code():
    assert ConfigError("x").exit_code == EXIT_CONFIG == 2


def test_gunicorn_conf_py_is_read_when_appserver_conf_py_is_absent(cwd):
    write_conf(cwd, "workers = 3\nkeepalive = 4\n", name="gunicorn.conf.py")
    cfg = load(cwd)
    assert (cfg.workers, cfg.keep_alive) == (3, 4.0)
    assert cfg.config_file == str(cwd / "gunicorn.conf.py")
    write_conf(cwd, "workers = 2\n")
    assert load(cwd).workers == 2 and load(cwd).keep_alive == 5.0
