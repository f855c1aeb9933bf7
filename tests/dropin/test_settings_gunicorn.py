"""Gunicorn's settings: every one classified, read in Gunicorn's spelling and
types from a config file and from Gunicorn's flags.

The list of settings comes from the installed ``gunicorn`` package, so a
Gunicorn release that adds one fails here until it is classified.
"""

import gunicorn.config
import pytest

from appserver.config import cmdline, loading
from appserver.config import settings as S
from appserver.config import gunicorn as G
from appserver.errors import ConfigError

KNOWN = gunicorn.config.KNOWN_SETTINGS
ACTIONS = {None: G.VALUE, "store": G.VALUE, "append": G.APPEND,
           "store_true": G.TRUE, "store_const": G.FALSE}


FOLLOWED = gunicorn.__version__.split(".")[0] == G.FOLLOWS


def test_every_gunicorn_setting_is_classified():
    names = [s.name for s in KNOWN]
    missing = [name for name in names if name not in G.BY_NAME]
    assert not missing, "Gunicorn settings not classified: %s" % missing
    if FOLLOWED:        # an older Gunicorn lacks some; the followed one has them all
        extra = set(G.BY_NAME) - set(names)
        assert not extra, "classified but not Gunicorn settings: %s" % sorted(extra)
    assert {G.kind(name) for name in names} == {G.SAME, G.NO_EFFECT, G.REFUSED}


@pytest.mark.parametrize("setting", KNOWN, ids=lambda s: s.name)
def test_flags_and_actions_match_gunicorn(setting):
    ours = G.BY_NAME[setting.name]
    assert set(setting.cli or ()) <= set(ours.flags)        # every flag is accepted
    if FOLLOWED:
        assert ours.flags == tuple(setting.cli or ())
        if setting.cli and getattr(setting, "nargs", None) != "?":
            assert ours.action == ACTIONS[setting.action]


def test_same_settings_name_an_appserver_setting():
    for g in G.GUNICORN:
        key = getattr(g.rule, "key", None)
        if key is not None:
            assert key == "app" or key in S.BY_KEY, g.name


@pytest.mark.parametrize("setting", [g for g in G.GUNICORN if g.kind == G.NO_EFFECT],
                         ids=lambda g: g.name)
def test_no_effect_settings_say_why(setting):
    outcome = G.translate(setting.name, "x", "config file c.py")
    assert outcome[0] == "notice"
    assert outcome[1].startswith("%s (Gunicorn's setting, from config file c.py) "
                                 "has no effect: " % setting.name)
    assert "\n" not in outcome[1]


@pytest.mark.parametrize("setting", [g for g in G.GUNICORN if g.kind == G.REFUSED],
                         ids=lambda g: g.name)
def test_refused_settings_say_what_instead(setting):
    with pytest.raises(ConfigError) as info:
        G.translate(setting.name, "something else", "config file c.py")
    message = str(info.value)
    assert message.startswith("%s='something else' (from config file c.py) is not "
                              "available: " % setting.name)
    assert message.count(";") >= 1


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load_file(cwd, text, cli=None):
    (cwd / "gunicorn.conf.py").write_text(text)
    return loading.load("pkg.mod:app", dict(cli or {}, config="gunicorn.conf.py"),
                       {}, str(cwd))


def test_a_typical_gunicorn_config_file(cwd):
    cfg = load_file(cwd, """\
import multiprocessing
cores = multiprocessing.cpu_count()
bind = ["0.0.0.0:8000", "unix:/tmp/app.sock"]
workers = 3
threads = 1
worker_class = "sync"
timeout = 40
graceful_timeout = 20
keepalive = 3
accesslog = "-"
errorlog = "-"
loglevel = "WARNING"
access_log_format = '%(h)s "%(r)s" %(s)s'
forwarded_allow_ips = ["10.0.0.1", "10.0.0.2"]
preload_app = True
max_requests = 1000
max_requests_jitter = 50
raw_env = ["DJANGO_SETTINGS_MODULE=proj.settings", "A=1"]
pidfile = "/tmp/app.pid"
umask = 0o027
user = 1000
proc_name = "proj"
worker_tmp_dir = "/dev/shm"
""")
    assert cfg.bind == ("0.0.0.0:8000", "unix:/tmp/app.sock")
    assert (cfg.workers, cfg.timeout, cfg.graceful_timeout) == (3, 40, 20)
    assert cfg.keep_alive == 3.0 and cfg.source("keep_alive").startswith("config file")
    assert (cfg.access_logfile, cfg.error_logfile, cfg.log_level) == ("-", "-", "warning")
    assert cfg.access_log_format == '%(h)s "%(r)s" %(s)s'
    assert cfg.forwarded_allow_ips == "10.0.0.1,10.0.0.2"
    assert cfg.preload is True
    assert (cfg.max_requests, cfg.max_requests_jitter) == (1000, 50)
    assert cfg.env == ("DJANGO_SETTINGS_MODULE=proj.settings", "A=1")
    assert cfg.pid == "/tmp/app.pid"
    assert cfg.umask == "027"
    assert cfg.user == "1000"
    assert cfg.name == "proj"
    assert len(cfg.notices) == 1 and "worker_tmp_dir" in cfg.notices[0]
    assert "shared memory" in cfg.notices[0]


@pytest.mark.parametrize("text, expected", [
    ("threads = 0\n", "threads=0 (from config file "),
    ("worker_class = 'gevent'\n", "worker_class 'gevent' (from config file "),
    ("reuse_port = True\n", "reuse_port=True (from config file "),
    ("logconfig_dict = 'logging.json'\n", "expected a logging.config.dictConfig "
                                         "dictionary"),
])
def test_refused_in_a_config_file(cwd, text, expected):
    with pytest.raises(ConfigError) as info:
        load_file(cwd, text)
    assert expected in str(info.value)


def test_logconfig_dict_is_taken_over_gunicorns_defaults(cwd):
    import gunicorn.glogging
    assert G.GUNICORN_LOG_DEFAULTS == gunicorn.glogging.CONFIG_DEFAULTS
    root = {"level": "WARNING", "handlers": ["console"]}
    cfg = load_file(cwd, "logconfig_dict = {'root': %r}\n" % root)
    assert cfg.log_config == dict(gunicorn.glogging.CONFIG_DEFAULTS, root=root)
    assert cfg.notices == ()
    assert load_file(cwd, "logconfig_dict = {}\n").log_config is None


LOG_DICT = "logconfig_dict = {'root': {'level': 'WARNING', 'handlers': ['console']}}\n"


def test_logconfig_dict_wins_over_logconfig_json_in_one_file(cwd):
    # Gunicorn's Logger.setup: logconfig_dict, else logconfig_json, else logconfig
    (cwd / "log.json").write_text('{"version": 1}')
    for text in (LOG_DICT + "logconfig_json = 'log.json'\n",
                 "logconfig_json = 'log.json'\n" + LOG_DICT):
        cfg = load_file(cwd, text)
        assert cfg.log_config["root"]["level"] == "WARNING"
        assert "gunicorn.error" in cfg.log_config["loggers"]
        assert len(cfg.notices) == 1
        assert cfg.notices[0].startswith("logconfig_json (Gunicorn's setting, from "
                                         "config file ")
        assert "is ignored: logconfig_dict is set too" in cfg.notices[0]


def test_logconfig_dict_wins_over_log_config_json_on_the_command_line(cwd):
    (cwd / "log.json").write_text('{"version": 1}')
    cfg = load_file(cwd, LOG_DICT, {"logconfig_json": "log.json"})
    assert cfg.log_config["root"]["level"] == "WARNING"
    assert cfg.notices == ("logconfig_json (Gunicorn's setting, from "
                           "--log-config-json) is ignored: logconfig_dict is set "
                           "too, and Gunicorn uses logconfig_dict before "
                           "logconfig_json; remove the one you do not mean",)


def test_logconfig_json_alone_and_an_ignored_ini_file(cwd):
    (cwd / "log.json").write_text('{"version": 1}')
    cfg = load_file(cwd, "logconfig_json = 'log.json'\n")
    assert cfg.log_config == G.GUNICORN_LOG_DEFAULTS and cfg.notices == ()
    cfg = load_file(cwd, "logconfig = 'log.ini'\n", {"logconfig_json": "log.json"})
    assert cfg.log_config == G.GUNICORN_LOG_DEFAULTS
    assert "logconfig (Gunicorn's setting, from config file" in cfg.notices[0]
    assert "Gunicorn uses logconfig_json before logconfig" in cfg.notices[0]


def test_logconfig_json_is_applied_over_gunicorns_defaults_as_gunicorn_does(cwd):
    # A JSON that names Gunicorn's default handler works under Gunicorn,
    # which merges it over glogging.CONFIG_DEFAULTS.
    root = {"level": "WARNING", "handlers": ["console"]}
    (cwd / "log.json").write_text('{"root": {"level": "WARNING", "handlers": ["console"]}}')
    cfg = load_file(cwd, "", {"logconfig_json": "log.json"})
    assert cfg.log_config == dict(G.GUNICORN_LOG_DEFAULTS, root=root)
    (cwd / "bad.json").write_text("{")
    with pytest.raises(ConfigError) as info:
        load_file(cwd, "logconfig_json = 'bad.json'\n")
    assert "logconfig_json='bad.json' (from config file " in str(info.value)
    assert "is not valid JSON" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_file(cwd, "", {"logconfig_json": "missing.json"})
    assert str(info.value) == ("logconfig_json='missing.json' (from --log-config-json): "
                               "No such file or directory")


GUNICORN_HELPERS = """\
env = "production"                  # helpers of the file's own: Gunicorn ignores
pid = 4                             # these names, which are not its settings
name = "shop"
log_level = "debug"
proc_name = name
raw_env = ["STAGE=" + env]
"""


@pytest.mark.parametrize("filename", ["gunicorn.conf.py", "web_conf.py"])
def test_names_gunicorn_ignores_are_ignored_in_a_gunicorn_config_file(cwd, filename):
    """env, pid, name (Gunicorn's --env, --pid, --name set raw_env, pidfile,
    proc_name) are no Gunicorn settings: a file named gunicorn*, or one that
    sets a Gunicorn-only name (raw_env), uses them as Gunicorn does."""
    (cwd / filename).write_text(GUNICORN_HELPERS)
    cfg = loading.load("pkg.mod:app", {"config": filename}, {}, str(cwd))
    assert cfg.env == ("STAGE=production",) and cfg.name == "shop"
    assert cfg.pid is None and cfg.log_level == "info"
    ignored = [n for n in cfg.notices if "is ignored, as Gunicorn ignores it" in n]
    assert len(ignored) == 4, cfg.notices
    assert any(n.startswith("env in ") and "--env sets raw_env" in n for n in ignored)
    assert any(n.startswith("pid in ") and "--pid sets pidfile" in n for n in ignored)
    assert any(n.startswith("name in ") and "--name sets proc_name" in n for n in ignored)


def test_in_an_appserver_config_file_env_pid_and_name_are_appservers(cwd):
    (cwd / "appserver.conf.py").write_text(
        'env = ["STAGE=production"]\npid = "/tmp/app.pid"\nname = "shop"\n'
        'log_level = "debug"\n')
    cfg = loading.load("pkg.mod:app", {}, {}, str(cwd))
    assert cfg.env == ("STAGE=production",) and cfg.pid == "/tmp/app.pid"
    assert (cfg.name, cfg.log_level) == ("shop", "debug") and cfg.notices == ()


def test_secure_scheme_headers_is_taken_as_is(cwd):
    cfg = load_file(cwd, "secure_scheme_headers = {'X-FORWARDED-PROTO': 'https', "
                         "'X-FORWARDED-SSL': 'on', 'X-Custom-Secure': 'yes'}\n")
    assert cfg.notices == ()
    assert cfg.secure_scheme_headers == {"X-FORWARDED-PROTO": "https",
                                         "X-FORWARDED-SSL": "on", "X-CUSTOM-SECURE": "yes"}
    assert cfg.source("secure_scheme_headers").startswith("config file ")
    assert load_file(cwd, "secure_scheme_headers = {}\n").secure_scheme_headers == {}


def test_secure_scheme_headers_default_is_gunicorns(cwd):
    cfg = loading.load("pkg.mod:app", {}, {}, str(cwd))
    assert cfg.secure_scheme_headers == gunicorn.config.Config().secure_scheme_headers


@pytest.mark.parametrize("value", ["['X-FORWARDED-SSL']", "{'X-FORWARDED-SSL': 1}",
                                   "{'X_FORWARDED_SSL': 'on'}", "{'': 'on'}"])
def test_secure_scheme_headers_refuses_what_is_no_header_table(cwd, value):
    with pytest.raises(ConfigError, match="secure-scheme-headers: expected comma-separated "
                                          "NAME=VALUE pairs"):
        load_file(cwd, "secure_scheme_headers = %s\n" % value)


def test_worker_connections_is_max_connections(cwd):
    # Gunicorn's gthread worker holds at most worker_connections connections
    cfg = load_file(cwd, "worker_class = 'gthread'\nworker_connections = 50\n")
    assert cfg.max_connections == 50 and cfg.notices == ()
    cfg = load_file(cwd, "", {"worker_connections": "60"})
    assert cfg.max_connections == 60 and cfg.notices == ()


def test_threads_in_a_config_file_are_appservers(cwd):
    cfg = load_file(cwd, "worker_class = 'gthread'\nthreads = 4\n")
    assert cfg.threads == 4 and cfg.notices == ()


def test_a_refused_worker_class_names_gthread_as_the_way(cwd):
    with pytest.raises(ConfigError) as info:
        load_file(cwd, "worker_class = 'gevent'\n")
    assert "use 'sync' or 'gthread'" in str(info.value)


def test_gthread_with_one_thread_runs_the_app_on_a_pool_of_one(cwd):
    # Gunicorn's gthread worker runs a pool of ``threads`` even with one, and
    # its environ says wsgi.multithread; its sync worker does neither.
    from appserver.config import hook_views
    for text, kind, pool in (
            ("worker_class = 'gthread'\nthreads = 1\n", "gthread", 1),
            ("worker_class = 'gunicorn.workers.gthread.ThreadWorker'\n", "gthread", 1),
            ("worker_class = 'sync'\n", "sync", 0),
            ("worker_class = 'sync'\nthreads = 3\n", "sync", 3),
            ("threads = 1\n", "sync", 0)):
        cfg = load_file(cwd, text)
        assert (cfg.worker_class, S.pool_threads(cfg), cfg.notices) == (kind, pool, ())
        view = hook_views.CfgView(cfg)
        assert view.worker_class_str == ("gthread" if pool else "sync")


def test_close_to_a_gunicorn_name_is_did_you_mean(cwd):
    with pytest.raises(ConfigError) as info:
        load_file(cwd, "keepalives = 5\n")
    assert "did you mean 'keepalive'?" in str(info.value)


def test_wsgi_app_names_the_app_when_the_command_line_does_not(cwd):
    (cwd / "gunicorn.conf.py").write_text("wsgi_app = 'proj.wsgi'\n")
    cfg = loading.load(None, {"config": "gunicorn.conf.py"}, {}, str(cwd))
    assert cfg.app == "proj.wsgi"
    cfg = loading.load("other:app", {"config": "gunicorn.conf.py"}, {}, str(cwd))
    assert cfg.app == "other:app"


def test_dirty_hooks_are_accepted_with_a_notice(cwd):
    cfg = load_file(cwd, "def dirty_post_fork(arbiter, worker):\n    pass\n")
    assert len(cfg.notices) == 1 and "never called" in cfg.notices[0]


def test_ssl_context_is_a_hook(cwd):
    cfg = load_file(cwd, "def ssl_context(conf, factory):\n    return factory()\n")
    assert "ssl_context" in cfg.hooks and cfg.notices == ()


# Gunicorn's flags

def parse_and_load(cwd, *args):
    app, given = cmdline.parse(["pkg.mod:app", *args])
    return loading.load(app, given, {}, str(cwd))


def test_gunicorn_flags_on_the_command_line(cwd):
    (cwd / "l.json").write_text('{"root": {"level": "ERROR"}}')
    cfg = parse_and_load(cwd, "-k", "sync", "--threads", "1", "--worker-tmp-dir",
                         "/dev/shm", "-m", "027", "--log-file", "/tmp/e.log",
                         "--uwsgi-allow-from", "*", "--proxy-allow-from", "10.0.0.1",
                         "--log-config-json", "l.json", "--cert-reqs", "2")
    assert cfg.umask == "027"
    assert cfg.error_logfile == "/tmp/e.log"
    assert cfg.uwsgi_allow_ips == "*" and cfg.proxy_allow_ips == "10.0.0.1"
    assert cfg.log_config == dict(G.GUNICORN_LOG_DEFAULTS, root={"level": "ERROR"})
    assert cfg.cert_reqs == "required"
    assert len(cfg.notices) == 1
    assert cfg.notices[0].startswith("worker_tmp_dir (Gunicorn's setting, from "
                                     "--worker-tmp-dir) has no effect")


def test_gunicorn_flags_are_hidden_from_help(capsys):
    with pytest.raises(SystemExit):
        cmdline.parse(["--help"])
    out = capsys.readouterr().out
    assert "--worker-tmp-dir" not in out and "--log-syslog" not in out
    assert "-k, --worker-class CLASS" in out         # appserver's too: sync or gthread


def test_refused_gunicorn_flag(cwd):
    with pytest.raises(ConfigError) as info:
        parse_and_load(cwd, "-k", "eventlet")
    assert "worker_class 'eventlet' (from --worker-class) is not available" in str(info.value)


# GUNICORN_CMD_ARGS and APPSERVER_CMD_ARGS

def load_with(cwd, environ, *args, conf=None):
    if conf is not None:
        (cwd / "gunicorn.conf.py").write_text(conf)
    app, given = cmdline.parse(["pkg.mod:app", *args])
    return loading.load(app, given, environ, str(cwd), cmdline.cmd_args(environ))


def test_cmd_args_precedence_file_env_gunicorn_appserver_cli(cwd):
    environ = {"APPSERVER_TIMEOUT": "11", "APPSERVER_WORKERS": "2",
               "GUNICORN_CMD_ARGS": "-c gunicorn.conf.py --workers 3 --keep-alive 4 "
                                    "-k sync --max-requests 7",
               "APPSERVER_CMD_ARGS": "--workers 5 --max-requests 8"}
    cfg = load_with(cwd, environ, "--max-requests", "9",
                    conf="workers = 1\nkeepalive = 1\ngraceful_timeout = 12\n")
    assert cfg.config_file == str(cwd / "gunicorn.conf.py")     # -c from the variable
    assert cfg.graceful_timeout == 12                           # config file
    assert cfg.timeout == 11                                    # APPSERVER_TIMEOUT
    assert cfg.keep_alive == 4.0 and cfg.source("keep_alive") == "GUNICORN_CMD_ARGS"
    assert cfg.workers == 5 and cfg.source("workers") == "APPSERVER_CMD_ARGS"
    assert cfg.max_requests == 9 and cfg.source("max_requests") == "command line"
    [notice] = [n for n in cfg.notices if "GUNICORN_CMD_ARGS" in n]
    assert notice.startswith("Reading options from GUNICORN_CMD_ARGS: --")
    assert "--config gunicorn.conf.py" in notice and "--worker-class sync" in notice
    assert not any("APPSERVER_CMD_ARGS" in n for n in cfg.notices)


def test_command_line_config_wins_over_cmd_args(cwd):
    (cwd / "other.py").write_text("workers = 4\n")
    cfg = load_with(cwd, {"GUNICORN_CMD_ARGS": "-c gunicorn.conf.py"}, "-c", "other.py",
                    conf="workers = 1\n")
    assert cfg.workers == 4


def test_cmd_args_errors_name_the_variable(cwd):
    with pytest.raises(cmdline.UsageError) as info:
        cmdline.cmd_args({"GUNICORN_CMD_ARGS": "--wrkers 3"})
    assert str(info.value).startswith("GUNICORN_CMD_ARGS: no such option --wrkers; "
                                      "did you mean --workers?")
    with pytest.raises(cmdline.UsageError) as info:
        cmdline.cmd_args({"APPSERVER_CMD_ARGS": "myapp:app -w 2"})
    assert "APPSERVER_CMD_ARGS holds options only" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_with(cwd, {"GUNICORN_CMD_ARGS": "--threads none"})
    assert "got 'none' (from --threads in GUNICORN_CMD_ARGS)" in str(info.value)
    assert load_with(cwd, {"GUNICORN_CMD_ARGS": "-k gthread --threads 8"}).threads == 8


def test_empty_cmd_args_are_ignored(cwd):
    cfg = load_with(cwd, {"GUNICORN_CMD_ARGS": "  ", "APPSERVER_CMD_ARGS": ""})
    assert cfg.notices == () and cfg.cmd_args == ()


# docs/migrating.md's table

def migrating_rows():
    from tests.deploy.files import REPO_ROOT
    text = (REPO_ROOT / "docs" / "migrating.md").read_text()
    section = text[text.index("### Gunicorn's settings, one by one"):]
    section = section[:section.index("\n\n", section.index("|---"))]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        name = cells[0].split("`")[1] if cells[0].startswith("`") else None
        if name:
            assert name not in rows, "%s appears twice" % name
            rows[name] = cells
    return rows


def test_migrating_table_matches_the_classification():
    rows = migrating_rows()
    assert set(rows) == set(G.BY_NAME) >= {s.name for s in KNOWN}
    for name, cells in rows.items():
        assert len(cells) == 4, cells
        assert cells[2] == G.kind(name), (name, cells[2], G.kind(name))
        flags = G.BY_NAME[name].flags
        assert all("`%s`" % flag in cells[0] for flag in flags), cells[0]
        if G.kind(name) != G.SAME:
            assert cells[1] == "—" and cells[3], cells
        key = getattr(G.BY_NAME[name].rule, "key", None)
        if key in S.BY_KEY:
            assert "`%s`" % S.BY_KEY[key].flags[-1].split("/")[0] in cells[1], cells


def test_gunicorn_ini_log_config_says_what_to_use(tmp_path):
    from appserver.observe import logs
    ini = tmp_path / "logging.ini"
    ini.write_text("[loggers]\nkeys=root\n\n[handlers]\nkeys=console\n")
    with pytest.raises(ConfigError) as info:
        logs.load_log_config(str(ini))
    assert "looks like an ini file for logging.config.fileConfig" in str(info.value)
    assert "dictConfig dictionary in a JSON or TOML file" in str(info.value)


@pytest.mark.parametrize("value, expected", [
    ("'v2'", True), ("'auto'", True), ("True", True), ("'off'", False), ("False", False),
])
def test_proxy_protocol_in_gunicorn_values(cwd, value, expected):
    assert load_file(cwd, "proxy_protocol = %s\n" % value).proxy_protocol is expected


def test_forwarded_allow_ips_environment_variable_as_gunicorn(cwd):
    cfg = loading.load("x:app", {}, {"FORWARDED_ALLOW_IPS": "10.0.0.1"}, str(cwd))
    assert cfg.forwarded_allow_ips == "10.0.0.1"
    assert cfg.source("forwarded_allow_ips") == "environment FORWARDED_ALLOW_IPS"
    cfg = loading.load("x:app", {"forwarded_allow_ips": "10.0.0.2"},
                      {"FORWARDED_ALLOW_IPS": "*"}, str(cwd))
    assert cfg.forwarded_allow_ips == "10.0.0.2" and cfg.warnings == ()
    cfg = loading.load("x:app", {}, {"FORWARDED_ALLOW_IPS": "*"}, str(cwd))
    assert cfg.warnings and "forwarded-allow-ips is '*'" in cfg.warnings[0]


def test_worker_class_given_as_gunicorn_class(cwd):
    cfg = load_file(cwd, "from gunicorn.workers.sync import SyncWorker\n"
                         "worker_class = SyncWorker\n")
    assert cfg.notices == ()
    with pytest.raises(ConfigError) as info:
        load_file(cwd, "class MyWorker:\n    pass\nworker_class = MyWorker\n")
    assert "worker_class '__appserver_config__.MyWorker'" in str(info.value)
