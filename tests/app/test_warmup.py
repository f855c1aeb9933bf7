"""Unit tests for appserver.warmup: parsing the setting, serving the requests.

``parse`` accepts ``/path?query`` and ``http://host/path`` and refuses
anything else with a ConfigError that says what to give; ``run`` calls the
app with a real environ (built from a listener's base environ, ``Host``
from the setting, ``appserver.warmup`` set), reads and closes the body,
passes 2xx-4xx (a 4xx is logged as a warning) and fails on a 5xx, an
exception (traceback in the message) or a missing ``start_response``.
"""
import logging

import pytest

from appserver.app import warmup
from appserver.errors import ConfigError
from appserver.net.sockets import Listener
from appserver.wsgi.environ import base_environ


def base():
    return base_environ(Listener(None, "tcp", ("127.0.0.1", 8000)), True)


class App:
    """Answers ``status``; records each environ and whether close() ran."""

    def __init__(self, status="200 OK", error=None):
        self.status, self.error = status, error
        self.environs, self.closed = [], 0

    def __call__(self, environ, start_response):
        self.environs.append(environ)
        if self.error is not None:
            raise self.error
        start_response(self.status, [("Content-Length", "2")])
        return self

    def __iter__(self):
        yield b"ok"

    def close(self):
        self.closed += 1


def test_parse_paths_and_urls():
    heads = warmup.parse(["/", "/health?deep=1", "http://example.com:8080/a/b"])
    assert heads[0].startswith(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
    assert heads[1].startswith(b"GET /health?deep=1 HTTP/1.1\r\n")
    assert b"Host: example.com:8080\r\n" in heads[2]
    assert heads[2].startswith(b"GET /a/b HTTP/1.1\r\n")
    assert warmup.parse([]) == []


@pytest.mark.parametrize("value", ["health", "ftp://host/x", "http:///x", "/a b",
                                   "/\x00"])
def test_parse_refuses_what_is_no_request_path(value):
    with pytest.raises(ConfigError, match=r"warmup: .* /PATH or http://HOST/PATH"):
        warmup.parse([value])


def test_run_serves_each_request_with_a_real_environ_and_closes_the_body():
    app = App()
    warmup.run(app, base(), warmup.parse(["/one?x=1", "http://example.com/two"]))
    first, second = app.environs
    assert (first["REQUEST_METHOD"], first["PATH_INFO"], first["QUERY_STRING"]) == \
        ("GET", "/one", "x=1")
    assert first["HTTP_HOST"] == "localhost" and second["HTTP_HOST"] == "example.com"
    assert first["appserver.warmup"] is True
    assert first["SERVER_PORT"] == "8000" and first["wsgi.input"].read() == b""
    assert app.closed == 2


def test_run_fails_on_a_5xx():
    with pytest.raises(warmup.WarmupFailed,
                       match=r"GET /x HTTP/1.1 answered 503 Service Unavailable"):
        warmup.run(App("503 Service Unavailable"), base(), warmup.parse(["/x"]))


def test_run_fails_on_an_exception_with_its_traceback():
    app = App(error=SyntaxError("invalid syntax (views.py, line 3)"))
    with pytest.raises(warmup.WarmupFailed) as caught:
        warmup.run(app, base(), warmup.parse(["/"]))
    assert "GET / HTTP/1.1 raised" in str(caught.value)
    assert "SyntaxError: invalid syntax (views.py, line 3)" in str(caught.value)


def test_run_fails_when_start_response_is_never_called():
    with pytest.raises(warmup.WarmupFailed, match="never called start_response"):
        warmup.run(lambda environ, start_response: [], base(), warmup.parse(["/"]))


def test_run_passes_a_4xx_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="appserver"):
        warmup.run(App("400 Bad Request"), base(), warmup.parse(["/"]))
    assert "Warm-up request GET / HTTP/1.1 answered 400 Bad Request" in caplog.text


def test_serve_or_exit_logs_and_exits_with_the_app_load_code(caplog):
    with caplog.at_level(logging.ERROR, logger="appserver"), \
            pytest.raises(SystemExit) as caught:
        warmup.serve_or_exit(App("500 Internal Server Error"), base(), ["/"])
    assert caught.value.code == 4
    assert "Worker failed to warm up: warm-up request GET / HTTP/1.1 answered 500" \
        in caplog.text
