"""Unit tests for appserver.observe.accesslog: atoms, escaping, JSON lines, cost when off.

Each Gunicorn atom renders from an environ; client-controlled text cannot
forge a field or a line (text and JSON); a JSON line has typed fields; an
unknown atom is a ConfigError at startup; a disabled log never formats.
"""
import json
import logging
import os
import re

import pytest

from appserver.observe import accesslog
from appserver.observe.accesslog import AccessLog, compile_format
from appserver.errors import ConfigError
from appserver.wsgi.response import Response


@pytest.fixture(autouse=True)
def restore_access_logger():
    logger = accesslog.access_logger
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        if handler not in saved[0]:
            handler.close()
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def environ(**extra):
    env = {"REMOTE_ADDR": "10.1.2.3", "REMOTE_PORT": "5555", "REQUEST_METHOD": "POST",
           "RAW_URI": "/a%20b?x=1", "PATH_INFO": "/a b", "QUERY_STRING": "x=1",
           "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_REFERER": "http://ref/",
           "HTTP_USER_AGENT": "curl/8", "HTTP_X_REQUEST_ID": "sent-1",
           "appserver.request_id": "rid-1"}
    env.update(extra)
    return env


def render(fmt, env=None, status=201, sent=42, duration=1.234567, response=None):
    env = environ() if env is None else env
    return compile_format(fmt).render(env, status, sent, duration, response)


@pytest.mark.parametrize("atom, expected", [
    ("h", "10.1.2.3"), ("l", "-"), ("u", "-"), ("r", "POST /a%20b?x=1 HTTP/1.1"),
    ("m", "POST"), ("U", "/a b"), ("q", "x=1"), ("H", "HTTP/1.1"), ("s", "201"),
    ("B", "42"), ("b", "42"), ("f", "http://ref/"), ("a", "curl/8"), ("T", "1"),
    ("M", "1234"), ("D", "1234567"), ("L", "1.234567"), ("p", "<%d>" % os.getpid()),
    ("{x-request-id}i", "sent-1"), ("{appserver.request_id}e", "rid-1"),
    ("{X-Missing}i", "-"), ("{remote_port}e", "5555"),
    ("{REMOTE_PORT}e", "5555"), ("{content-type}i", "-"),
])
def test_each_atom(atom, expected):
    assert render("%(" + atom + ")s") == expected


def test_time_atom_is_bracketed_clf():
    assert re.fullmatch(r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]",
                        render("%(t)s"))


def test_zero_bytes_is_a_dash_for_b_and_zero_for_B():
    assert render("%(b)s %(B)s", sent=0) == "- 0"


def test_status_line_gives_its_code():
    assert render("%(s)s", status="404 Not Found") == "404"


def test_literal_text_and_percent_signs():
    assert render("[%(m)s] 100%% done %(s)s%%") == "[POST] 100% done 201%"


def test_default_is_apache_combined():
    line = render(None, environ(REMOTE_USER="bob"))
    assert re.fullmatch(r'10\.1\.2\.3 - bob \[[^\]]+\] "POST /a%20b\?x=1 HTTP/1\.1" 201 42 '
                        r'"http://ref/" "curl/8"', line), line


def test_unknown_atom_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown atom %\(z\)s"):
        compile_format("%(h)s %(z)s")


def test_response_header_atom_reads_the_head():
    response = Response(lambda data: None, "HTTP/1.1", "GET", True)
    response.start_response("200 OK", [("X-Custom", 'v"1'), ("Content-Type", "a/b")])
    assert render("%({x-custom}o)s|%({content-type}o)s|%({nope}o)s",
                  response=response) == 'v\\"1|a/b|-'


def test_client_text_cannot_forge_fields_or_lines():
    evil = environ(HTTP_USER_AGENT='x" 500 99 "\n127.0.0.1 - - fake', RAW_URI='/"\\')
    line = render(None, evil)
    assert "\n" not in line
    fields = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
    assert fields == ['POST /\\"\\\\ HTTP/1.1', "http://ref/",
                      'x\\" 500 99 \\"\\x0a127.0.0.1 - - fake']


def test_json_line_has_typed_fields():
    record = json.loads(render("json", status="503 Busy", sent=7, duration=0.25))
    assert record["status"] == 503 and record["bytes"] == 7
    assert record["duration"] == 0.25 and record["pid"] == os.getpid()
    assert (record["method"], record["uri"], record["path"], record["query"]) == (
        "POST", "/a%20b?x=1", "/a b", "x=1")
    assert record["request_id"] == "rid-1" and record["remote_addr"] == "10.1.2.3"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", record["time"])


def test_json_escaping_keeps_forged_fields_inside_their_value():
    agent = 'a", "status": 999, "x": "\n\u2028'
    line = render("json", environ(HTTP_USER_AGENT=agent))
    assert "\n" not in line and line.isascii()
    record = json.loads(line)
    assert record["user_agent"] == agent and record["status"] == 201
    assert "x" not in record


def test_json_missing_values_are_null():
    record = json.loads(render("json", {}, status=400, sent=0, duration=0.0))
    assert record["method"] is None and record["remote_addr"] is None
    assert record["status"] == 400


def test_disabled_log_formats_nothing(monkeypatch):
    log = AccessLog(None, "%(h)s")
    assert log.enabled is False
    monkeypatch.setattr(log.format, "render", lambda *a: pytest.fail("formatted"))
    log.write(environ(), 200, 1, 0.1)


def test_file_log_gets_one_line_per_request(tmp_path):
    path = tmp_path / "access.log"
    log = AccessLog(str(path), "%(m)s %(s)s")
    log.write(environ(), 200, 1, 0.1)
    log.write(environ(REQUEST_METHOD="GET"), 404, 1, 0.1)
    logging.getLogger("appserver.access").handlers[0].flush()
    assert path.read_text().splitlines() == ["POST 200", "GET 404"]
