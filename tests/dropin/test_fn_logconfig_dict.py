"""A gunicorn.conf.py's ``logconfig_dict`` (and a ``logconfig_json`` file) is applied with
``logging.config.dictConfig``, as Gunicorn applies it: over Gunicorn's default
dictionary, with its ``gunicorn.error`` and ``gunicorn.access`` loggers
configuring appserver's error and access logs."""
import http.client
import re

import pytest

from tests.harness.process import wait_until

CONF = '''
logconfig_dict = {{
    "formatters": {{
        "json": {{"format": '{{"level": "%(levelname)s", "msg": "%(message)s"}}'}},
        "plain": {{"format": "ACCESS %(message)s"}},
    }},
    "handlers": {{
        "errors": {{"class": "logging.FileHandler", "formatter": "json",
                    "filename": {errors!r}}},
        "access": {{"class": "logging.FileHandler", "formatter": "plain",
                    "filename": {access!r}}},
    }},
    "root": {{"level": "WARNING", "handlers": []}},
    "loggers": {{
        "gunicorn.error": {{"level": "INFO", "handlers": ["errors"], "propagate": False,
                            "qualname": "gunicorn.error"}},
        "gunicorn.access": {{"level": "INFO", "handlers": ["access"], "propagate": False,
                             "qualname": "gunicorn.access"}},
    }},
}}
access_log_format = '%(m)s %(U)s %(s)s'
'''


@pytest.mark.timeout(60)
def test_logconfig_dict_routes_the_error_and_access_logs(server_factory, tmp_path):
    errors, access = tmp_path / "errors.log", tmp_path / "access.log"
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(CONF.format(errors=str(errors), access=str(access)))
    srv = server_factory("hello", "-c", conf, start=False)
    srv.start(wait=False)               # the log it waits on is in errors.log
    wait_until(lambda: "Ready: 1 workers booted" in _text(errors), 15, srv.log)
    lines = _text(errors).splitlines()
    assert '{"level": "INFO", "msg": "Ready: 1 workers booted"}' in lines, lines
    assert any(line.startswith('{"level": "INFO", "msg": "Listening at: http://')
               for line in lines), lines
    port = int(re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", _text(errors)).group(1))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/logged")
    assert conn.getresponse().status == 200
    conn.close()
    wait_until(lambda: "ACCESS GET /logged 200" in _text(access), 15, lambda: _text(access))
    assert "Listening at" not in srv.log()       # the error log went to its file


def _text(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""




@pytest.mark.timeout(60)
def test_logconfig_json_may_name_gunicorns_default_handlers(server_factory, tmp_path):
    # Gunicorn merges the file over its defaults: "console" is its handler
    log_json = tmp_path / "log.json"
    log_json.write_text('{"root": {"level": "WARNING", "handlers": ["console"]}}')
    srv = server_factory("hello", "--log-config-json", log_json)
    assert srv.get("/").status == 200
    assert re.search(r"\[\d+\] \[INFO\] Ready: 1 workers booted", srv.log()), srv.log()
