"""Unit tests for appserver.observe.logs: error log setup, access log lines, reopen.

Covers the error-log line format, level filtering, file vs stderr, that a
second ``setup`` replaces (not adds) handlers, ``error_stream``; the access
log in Apache combined format (fields, quoting of header values, ``-`` for
missing values and zero bytes, stdout for ``-``, nothing when disabled); and
``reopen`` after a log rotation. Logger state is restored after each test.
"""
import json
import os
import re
import time
from types import SimpleNamespace

import pytest

from appserver.config import hook_views
from appserver.observe import logs

ERROR_LINE = re.compile(
    r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})\] \[(\d+)\] \[([A-Z]+)\] (.*)\Z")
# host ident user [time] "request" status bytes "referer" "user-agent"
COMBINED = re.compile(
    r'(\S+) - (\S+) \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"\Z')


@pytest.fixture(autouse=True)
def restore_loggers():
    saved = []
    for logger in (logs.error_log, logs._access_logger):
        saved.append((logger, list(logger.handlers), logger.level, logger.propagate))
    yield
    for logger, handlers, level, propagate in saved:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            if handler not in handlers:
                handler.close()
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def cfg(error_logfile="-", log_level="info", access_logfile=None):
    return SimpleNamespace(error_logfile=error_logfile, log_level=log_level,
                           access_logfile=access_logfile)


def environ(**extra):
    env = {"REMOTE_ADDR": "10.1.2.3", "REQUEST_METHOD": "GET",
           "RAW_URI": "/path?q=1", "SERVER_PROTOCOL": "HTTP/1.1",
           "HTTP_REFERER": "http://ref.example/", "HTTP_USER_AGENT": "curl/8.0"}
    env.update(extra)
    return env


# -- error log -----------------------------------------------------------------

def test_error_log_line_format_to_file(tmp_path):
    path = tmp_path / "error.log"
    logs.setup(cfg(error_logfile=str(path)))
    logs.error_log.info("Listening at: %s", "http://127.0.0.1:8000")
    logs.error_log.error("boom")
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    m = ERROR_LINE.match(lines[0])
    assert m, lines[0]
    stamp, pid, level, message = m.groups()
    assert int(pid) == os.getpid()
    assert level == "INFO"
    assert message == "Listening at: http://127.0.0.1:8000"
    assert ERROR_LINE.match(lines[1]).group(3) == "ERROR"
    logged = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S"))
    assert abs(logged - time.time()) < 120


def test_error_log_defaults_to_stderr(capsys):
    logs.setup(cfg(error_logfile="-"))
    logs.error_log.warning("to stderr")
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert ERROR_LINE.match(line).group(3, 4) == ("WARNING", "to stderr")


@pytest.mark.parametrize("level,shown", [
    ("debug", ["DEBUG", "INFO", "WARNING", "ERROR"]),
    ("info", ["INFO", "WARNING", "ERROR"]),
    ("WARNING", ["WARNING", "ERROR"]),
    ("error", ["ERROR"]),
])
def test_error_log_level_filters(tmp_path, level, shown):
    path = tmp_path / "error.log"
    logs.setup(cfg(error_logfile=str(path), log_level=level))
    for name in ("debug", "info", "warning", "error"):
        getattr(logs.error_log, name)("a %s line", name)
    levels = [ERROR_LINE.match(line).group(3) for line in path.read_text().splitlines()]
    assert levels == shown


def test_setup_twice_replaces_handlers_and_does_not_propagate(tmp_path):
    first, second = tmp_path / "one.log", tmp_path / "two.log"
    logs.setup(cfg(error_logfile=str(first)))
    logs.setup(cfg(error_logfile=str(second)))
    assert len(logs.error_log.handlers) == 1
    assert logs.error_log.propagate is False
    logs.error_log.info("only once")
    assert first.read_text() == ""
    assert second.read_text().count("only once") == 1


def test_error_stream_is_the_log_file(tmp_path):
    path = tmp_path / "error.log"
    logs.setup(cfg(error_logfile=str(path)))
    stream = logs.error_stream()
    assert stream is not None
    assert os.path.samefile(stream.name, path)


# -- access log ----------------------------------------------------------------

def test_access_log_disabled_writes_nothing(capsys, tmp_path):
    access = logs.setup(cfg(error_logfile=str(tmp_path / "e.log")))
    assert access.enabled is False
    access.write(environ(), "200 OK", 12, 0.01)
    assert capsys.readouterr() == ("", "")
    assert logs._access_logger.handlers == []


def test_access_log_combined_format_to_stdout(capsys, tmp_path):
    access = logs.setup(cfg(error_logfile=str(tmp_path / "e.log"), access_logfile="-"))
    assert access.enabled is True
    access.write(environ(REMOTE_USER="alice"), "200 OK", 1234, 0.01)
    out = capsys.readouterr().out
    [line] = out.splitlines()
    m = COMBINED.match(line)
    assert m, line
    host, user, stamp, request, status, sent, referer, agent = m.groups()
    assert (host, user, request, status, sent, referer, agent) == (
        "10.1.2.3", "alice", "GET /path?q=1 HTTP/1.1", "200", "1234",
        "http://ref.example/", "curl/8.0")
    logged = time.mktime(time.strptime(stamp[:20], "%d/%b/%Y:%H:%M:%S"))
    assert abs(logged - time.time()) < 120


def test_access_log_to_file_with_missing_values(tmp_path):
    path = tmp_path / "access.log"
    access = logs.setup(cfg(error_logfile=str(tmp_path / "e.log"),
                            access_logfile=str(path)))
    access.write({}, 500, 0, 0.0)
    [line] = path.read_text().splitlines()
    m = COMBINED.match(line)
    assert m, line
    host, user, _, request, status, sent, referer, agent = m.groups()
    assert (host, user, request, status, sent, referer, agent) == (
        "-", "-", "- - -", "500", "-", "-", "-")


def test_access_log_status_is_the_code_of_a_status_line(tmp_path):
    path = tmp_path / "access.log"
    access = logs.AccessLog(str(path))
    access.write(environ(), "404 Not Found", 9, 0.0)
    access.write(environ(), 504, 0, 0.0)
    statuses = [COMBINED.match(line).group(5) for line in path.read_text().splitlines()]
    assert statuses == ["404", "504"]


def test_access_log_escapes_quotes_in_header_values(tmp_path):
    path = tmp_path / "access.log"
    access = logs.AccessLog(str(path))
    agent = 'evil" 200 1 "-" "forged \\'
    access.write(environ(HTTP_USER_AGENT=agent, HTTP_REFERER='a"b'), "200 OK", 1, 0.0)
    [line] = path.read_text().splitlines()
    m = COMBINED.match(line)
    assert m, line
    assert m.group(7) == 'a\\"b'
    assert m.group(8) == 'evil\\" 200 1 \\"-\\" \\"forged \\\\'


def test_access_log_escapes_quotes_in_the_request_line(tmp_path):
    # regression: the parser accepts '"' in a request-target, and RAW_URI was
    # logged unescaped, so a client could forge the fields after it
    path = tmp_path / "access.log"
    access = logs.AccessLog(str(path))
    access.write(environ(RAW_URI='/x" 200 99 "http://forged/" "forged-agent'),
                 "404 Not Found", 5, 0.0)
    [line] = path.read_text().splitlines()
    m = COMBINED.match(line)
    assert m, line
    assert m.group(5) == "404" and m.group(6) == "5"
    assert m.group(7) == "http://ref.example/"


def test_access_log_escapes_control_characters(tmp_path):
    path = tmp_path / "access.log"
    access = logs.AccessLog(str(path))
    access.write(environ(HTTP_USER_AGENT="a\nfake line\r\x1b[31m\x7f",
                         RAW_URI="/p\nq"), "200 OK", 1, 0.0)
    lines = path.read_text().splitlines()
    assert len(lines) == 1, "a client value started a new log line"
    m = COMBINED.match(lines[0])
    assert m, lines[0]
    assert m.group(8) == "a\\x0afake line\\x0d\\x1b[31m\\x7f"
    assert not any(c in lines[0] for c in "\r\x1b\x7f")


def test_new_access_log_replaces_the_previous_handler(tmp_path):
    first, second = tmp_path / "a1.log", tmp_path / "a2.log"
    logs.AccessLog(str(first))
    access = logs.AccessLog(str(second))
    access.write(environ(), "200 OK", 1, 0.0)
    assert first.read_text() == ""
    assert len(second.read_text().splitlines()) == 1
    logs.AccessLog(None).write(environ(), "200 OK", 1, 0.0)
    assert len(second.read_text().splitlines()) == 1


# -- reopen --------------------------------------------------------------------

def test_reopen_after_rotation_writes_to_the_new_files(tmp_path):
    error_path, access_path = tmp_path / "error.log", tmp_path / "access.log"
    access = logs.setup(cfg(error_logfile=str(error_path),
                            access_logfile=str(access_path)))
    logs.error_log.info("before rotation")
    access.write(environ(RAW_URI="/before"), "200 OK", 1, 0.0)
    os.rename(error_path, tmp_path / "error.log.1")
    os.rename(access_path, tmp_path / "access.log.1")
    logs.reopen()
    logs.error_log.info("after rotation")
    access.write(environ(RAW_URI="/after"), "200 OK", 1, 0.0)
    assert "before rotation" in (tmp_path / "error.log.1").read_text()
    assert "after rotation" not in (tmp_path / "error.log.1").read_text()
    assert "after rotation" in error_path.read_text()
    assert "/before" in (tmp_path / "access.log.1").read_text()
    assert "/after" in access_path.read_text()
    assert "/before" not in access_path.read_text()


def test_a_hooks_reopen_files_reopens_the_log_files(tmp_path):
    """Gunicorn's ``server.log.reopen_files()``, as a hooks file calls it."""
    error_path = tmp_path / "error.log"
    logs.setup(cfg(error_logfile=str(error_path)))
    os.rename(error_path, tmp_path / "error.log.1")
    hook_views.LOG.reopen_files()
    logs.error_log.info("after rotation")
    assert "after rotation" in error_path.read_text()
    assert "after rotation" not in (tmp_path / "error.log.1").read_text()


def test_reopen_with_stream_handlers_only_is_harmless(capsys):
    logs.setup(cfg(error_logfile="-"))
    logs.reopen()
    logs.error_log.error("still here")
    assert "still here" in capsys.readouterr().err


def test_gunicorns_logger_names_configure_ours(tmp_path):
    path = tmp_path / "logging.json"
    path.write_text(json.dumps({"version": 1, "loggers": {
        "gunicorn.error": {"level": "DEBUG", "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO"},
        "appserver.access": {"level": "WARNING"}}}))
    loggers = logs.dict_config_of(str(path))["loggers"]
    assert loggers["appserver"] == {"level": "DEBUG"}
    assert loggers["appserver.access"] == {"level": "WARNING"}     # named: kept
    given = {"loggers": {"gunicorn.error": {"level": "ERROR"}}}
    config = logs.dict_config_of(given)
    assert config["loggers"]["appserver"] == {"level": "ERROR"}
    assert given == {"loggers": {"gunicorn.error": {"level": "ERROR"}}}   # a copy
    assert config["version"] == 1 and config["disable_existing_loggers"] is False
