"""Start-up checks (appserver.deploy.preflight), over real processes: for each thing a
start can find wrong, ``--check-config`` and the real start stop with the same
message and exit code, the start before binding any socket or starting a
worker, with no traceback; and a check that passes is followed by a start
that serves."""

import socket

import pytest

from appserver.deploy import preflight
from appserver.errors import EXIT_APP_LOAD, EXIT_BIND, EXIT_CONFIG

from server import Server

pytestmark = pytest.mark.timeout(60)


def outcome(app, args, check, tmp_path=None):
    """``(exit code, error log + stdout)`` of ``appserver APP ARGS`` (with
    --check-config)."""
    server = Server(app, args=tuple(args) + (("--check-config",) if check else ()),
                    cwd=tmp_path)
    try:
        server.start(wait=False)
        return server.wait_exit(timeout=30), server.log() + server.stdout()
    finally:
        server.cleanup()


def error_line(log):
    lines = [line for line in log.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, log
    return lines[0]


@pytest.fixture
def busy_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def cases(tmp_path, busy_port):
    bad_json = tmp_path / "log.json"
    bad_json.write_text("{not json")
    ini = tmp_path / "log.ini"
    ini.write_text("[loggers]\nkeys=root\n")
    return {
        "log-config ini": (["--log-config", str(ini)], EXIT_CONFIG,
                           "looks like an ini file for logging.config.fileConfig"),
        "log-config": (["--log-config", str(bad_json)], EXIT_CONFIG, "log-config"),
        "user": (["--user", "nosuchuser"], EXIT_CONFIG, "no such user 'nosuchuser'"),
        "group": (["--group", "nosuchgroup"], EXIT_CONFIG, "no such group 'nosuchgroup'"),
        "admin-bind": (["--admin-bind", "127.0.0.1:99999"], EXIT_CONFIG,
                       "admin-bind: bad bind address '127.0.0.1:99999': the port must be"),
        "statsd": (["--statsd-host", "nohost.invalid:8125"], EXIT_CONFIG,
                   "statsd-host nohost.invalid:8125"),
        "bind-owner": (["--bind-owner", "nosuchuser"], EXIT_CONFIG,
                       "bind-owner: no such user or group: user 'nosuchuser' does not exist"),
        "pid": (["--pid", "/nonexistent/dir/x.pid"], EXIT_CONFIG,
                "pid /nonexistent/dir/x.pid: directory /nonexistent/dir does not exist"),
        "error-logfile": (["--error-logfile", "/nonexistent/x.log"], EXIT_CONFIG,
                          "error-logfile /nonexistent/x.log: directory /nonexistent"),
        "access-logfile": (["--access-logfile", str(tmp_path)], EXIT_CONFIG,
                           "is a directory"),
        "umask": (["--umask", "9x"], EXIT_CONFIG, "umask: expected an octal number"),
        "port in use": (["--bind", "127.0.0.1:%d" % busy_port], EXIT_BIND,
                        "another process is listening there"),
        "admin port in use": (["--admin-bind", "127.0.0.1:%d" % busy_port], EXIT_BIND,
                              "another process is listening there"),
    }


NAMES = ["log-config", "log-config ini", "user", "group", "admin-bind", "statsd", "bind-owner",
         "pid", "error-logfile", "access-logfile", "umask", "port in use", "admin port in use"]


@pytest.mark.parametrize("name", NAMES)
def test_check_and_start_stop_alike_and_before_binding(name, tmp_path, busy_port):
    args, code, words = cases(tmp_path, busy_port)[name]
    checked = outcome("hello", args, check=True)
    started = outcome("hello", args, check=False)
    assert checked[0] == started[0] == code, (checked, started)
    assert words in error_line(checked[1])
    assert error_line(started[1]) == error_line(checked[1])
    for log in (checked[1], started[1]):
        assert "Traceback" not in log
        assert "config OK" not in log
    assert "Booting worker" not in started[1]
    if code != EXIT_BIND or name.startswith("admin"):
        assert "Listening at" not in started[1] or name == "admin port in use"


@pytest.mark.parametrize("app", ["myproj/wsgi.py", "nosuchmodule_xyz:app"])
def test_a_bad_app_name_is_found_before_binding_and_printed_once(app):
    for check in (True, False):
        code, log = outcome(app, [], check)
        assert code == EXIT_APP_LOAD, log
        assert "Listening at" not in log and "Booting worker" not in log
        line = error_line(log)
        assert "Error: " not in log.replace(line, "", 1), "printed once: " + log
        assert "[ERROR]" not in log
        if "/" in app:
            assert "did you mean 'myproj.wsgi'?" in line
        else:
            assert "module 'nosuchmodule_xyz' not found" in line


def test_two_faults_the_first_check_in_order_wins_in_both():
    args = ["--pid", "/nonexistent/dir/x.pid", "--user", "nosuchuser"]
    checked, started = outcome("hello", args, True), outcome("hello", args, False)
    assert error_line(checked[1]) == error_line(started[1])
    assert "no such user" in error_line(started[1])     # users before paths


def test_a_passing_check_binds_nothing_it_keeps(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    code, log = outcome("hello", ["--bind", "127.0.0.1:%d" % port,
                                      "--admin-bind", "127.0.0.1:0"], True)
    assert code == 0 and "config OK" in log, log
    with Server("hello", bind="127.0.0.1:%d" % port) as server:
        assert server.get("/").status == 200


def test_the_checks_run_in_the_documented_order():
    names = [check.__name__ for check in preflight.CHECKS]
    assert names == ["check_settings", "check_app_name", "check_user", "check_paths",
                     "check_log_config", "check_statsd", "check_binds", "check_app"]


def test_finding_the_app_at_start_imports_nothing(tmp_path, monkeypatch):
    from appserver.app import loader
    (tmp_path / "explodes_on_import.py").write_text("raise SystemExit('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loader.find("explodes_on_import:app")
    assert "explodes_on_import" not in __import__("sys").modules
