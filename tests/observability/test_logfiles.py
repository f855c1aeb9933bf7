"""--log-config (JSON, TOML) and USR1 log reopening, over real processes.

A dictConfig file routes the error and access loggers to files of its own
formats; a broken one stops the start with exit code 2 naming the file. After
the log files are renamed (rotation), USR1 makes the arbiter and the workers
write to new files at the original paths.
"""
import json
import os
import re
import signal
import threading
import time

from appserver.observe import logs
from appserver.errors import ConfigError
from tests.harness.process import LISTENING_RE, wait_until
from tests.harness.procfs import open_paths
from tests.observability.conftest import lines_of

import pytest


def start_logging_to_files(srv, error_path):
    """Start a server whose error log is a file (not the harness's stderr)."""
    srv.start(wait=False)
    text = wait_until(lambda: (lambda t: t if "Ready:" in t else None)(
        error_path.read_text() if error_path.exists() else ""), 20, "Ready in the log")
    srv._set_address(LISTENING_RE.search(text).group("url"))
    srv.worker_pids()
    return srv


def test_log_config_json_routes_both_loggers(obs_server, tmp_path):
    errors, access = tmp_path / "errors.log", tmp_path / "access.log"
    conf = tmp_path / "logging.json"
    conf.write_text(json.dumps({
        "formatters": {"plain": {"format": "%(name)s|%(levelname)s|%(message)s"}},
        "handlers": {
            "err": {"class": "logging.FileHandler", "filename": str(errors),
                    "formatter": "plain"},
            "acc": {"class": "logging.FileHandler", "filename": str(access),
                    "formatter": "plain"}},
        "loggers": {"appserver": {"handlers": ["err"], "level": "INFO"},
                    "appserver.access": {"handlers": ["acc"], "level": "INFO",
                                         "propagate": False}}}))
    srv = obs_server("--log-config", conf, "--access-log-format", "%(m)s %(U)s %(s)s",
                     start=False)
    start_logging_to_files(srv, errors)
    assert srv.get("/header").status == 200
    wait_until(lambda: lines_of(access), 10, "an access line")
    assert lines_of(access) == ["appserver.access|INFO|GET /header 200"]
    assert "appserver|INFO|Ready: 1 workers booted" in lines_of(errors)
    assert "Ready" not in srv.log()             # nothing left on stderr


def test_log_config_toml(obs_server, tmp_path):
    pytest.importorskip("tomllib")
    access = tmp_path / "access.log"
    conf = tmp_path / "logging.toml"
    conf.write_text('[handlers.acc]\nclass = "logging.FileHandler"\n'
                    'filename = "%s"\n[loggers."appserver.access"]\n'
                    'handlers = ["acc"]\nlevel = "INFO"\n' % access)
    srv = obs_server("--log-config", conf)
    srv.get("/")
    assert wait_until(lambda: lines_of(access), 10, "an access line")[0].startswith(
        "127.0.0.1 - - [")


def test_bad_log_config_stops_the_start(obs_server, tmp_path):
    conf = tmp_path / "logging.json"
    conf.write_text('{"handlers": {"h": {"class": "no.such.Handler"}}}')
    srv = obs_server("--log-config", conf, start=False)
    srv.start(wait=False)
    assert srv.wait_exit(20) == 2
    assert re.search(r"Error: log-config .*logging\.json: ", srv.log())


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not valid JSON"), ("[1, 2]", "expected a dictConfig dictionary")])
def test_load_log_config_errors(tmp_path, text, message):
    path = tmp_path / "l.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        logs.load_log_config(str(path))


def test_usr1_reopens_the_files_of_arbiter_and_workers(obs_server, tmp_path):
    errors, access = tmp_path / "error.log", tmp_path / "access.log"
    srv = obs_server("--error-logfile", errors, "--access-logfile", access,
                     "--access-log-format", "%(U)s %(p)s", workers=2, start=False)
    start_logging_to_files(srv, errors)
    srv.get("/before")
    wait_until(lambda: lines_of(access), 10, "the first access line")
    os.rename(errors, tmp_path / "error.log.1")
    os.rename(access, tmp_path / "access.log.1")
    srv.signal(signal.SIGUSR1)
    wait_until(lambda: errors.exists(), 10, "a new error log")
    workers = set(srv.worker_pids())
    # The arbiter makes the new files; each worker reopens only when its own
    # loop handles the USR1 the arbiter passed on: until no process holds a
    # rotated file open, a request could still be logged to access.log.1.
    rotated = {str(tmp_path / "error.log.1"), str(tmp_path / "access.log.1")}
    wait_until(lambda: not any(open_paths(pid) & rotated
                               for pid in [srv.pid, *workers]), 10,
               "every process to reopen its logs")
    seen = set()
    deadline = time.monotonic() + 15
    while seen != workers and time.monotonic() < deadline:
        both = [threading.Thread(target=srv.get, args=("/sleep?s=0.3",)) for _ in "ab"]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        seen = {int(line.split("<")[1].rstrip(">")) for line in lines_of(access)}
    assert seen == workers, "workers that wrote to the new access log: %s" % seen
    assert [line.split()[0] for line in lines_of(tmp_path / "access.log.1")] == ["/before"]
    assert {line.split()[0] for line in lines_of(access)} == {"/sleep"}
    assert "Received USR1: reopening log files" in (tmp_path / "error.log.1").read_text()
    srv.signal(signal.SIGTERM)
    srv.wait_exit(20)
    assert "Shutting down: master" in errors.read_text()
