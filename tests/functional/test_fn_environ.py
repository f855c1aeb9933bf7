"""Functional tests of the WSGI environ the server builds (PEP 3333)."""
import json

import pytest

CGI_KEYS = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
            "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL")


def test_environ_keys_over_tcp(server_factory):
    server = server_factory("echo", workers=2)
    conn = server.connection()
    try:
        conn.request(
            "POST", "/caf%C3%A9/a%20b/%7Euser?x=1&y=%C3%A9&z=a+b",
            body=b"hello", headers={"Content-Type": "text/plain; charset=utf-8",
                                    "X-Custom-Header": "value 1"})
        client_port = conn.sock.getsockname()[1]
        resp = conn.getresponse()
        env = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 200
    # PATH_INFO is percent-decoded, and the bytes are carried as latin-1.
    assert env["path"] == "/caf\u00c3\u00a9/a b/~user"
    assert env["path"].encode("latin-1").decode("utf-8") == "/café/a b/~user"
    assert env["script_name"] == ""
    assert env["query"] == "x=1&y=%C3%A9&z=a+b"  # never decoded
    assert env["method"] == "POST"
    assert env["protocol"] == "HTTP/1.1"
    assert env["remote_addr"] == "127.0.0.1"
    if env["remote_port"] is not None:
        assert env["remote_port"] == str(client_port)
    assert env["server_port"] == str(server.port)
    assert env["server_name"]
    assert env["scheme"] == "http"
    assert env["content_type"] == "text/plain; charset=utf-8"
    assert env["content_length"] == "5"
    assert env["body"] == "hello"
    assert env["headers"]["HTTP_X_CUSTOM_HEADER"] == "value 1"
    assert env["headers"]["HTTP_HOST"] == f"127.0.0.1:{server.port}"
    assert "HTTP_CONTENT_TYPE" not in env["headers"]
    assert "HTTP_CONTENT_LENGTH" not in env["headers"]
    assert env["version"] == [1, 0]
    assert env["multithread"] is False
    assert env["multiprocess"] is True
    assert env["run_once"] is False
    assert env["input_terminated"] is True
    server.assert_log_clean()


def test_environ_http10_protocol_and_repeated_headers(server_factory):
    server = server_factory("echo")
    with server.connect() as sock:
        sock.sendall(b"GET /p%2Fq HTTP/1.0\r\nHost: h\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n")
        data = b""
        while True:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    env = json.loads(data.partition(b"\r\n\r\n")[2])
    assert env["protocol"] == "HTTP/1.0"
    assert env["path"] == "/p/q"
    assert env["query"] == ""
    assert env["headers"]["HTTP_X_MULTI"].replace(" ", "") == "a,b"


def test_environ_types(server_factory):
    """Every CGI value is a native str; wsgi.* have the PEP 3333 types and
    methods (the app is also wrapped in wsgiref.validate)."""
    server = server_factory("environ_dump")
    resp = server.get("/x?y=1", headers={"X-A": "b"})
    assert resp.status == 200
    env = resp.json()
    for key in CGI_KEYS:
        assert env[key]["type"] == "str", (key, env[key])
    for key, value in env.items():
        if key.startswith("HTTP_") or key.upper() == key:
            assert value["type"] == "str", (key, value)
    assert env["wsgi.version"] == {"type": "tuple", "value": "(1, 0)"}
    assert env["wsgi.url_scheme"] == {"type": "str", "value": "http"}
    assert env["wsgi.input"]["methods"] == ["read", "readline", "readlines", "__iter__"]
    assert env["wsgi.errors"]["methods"] == ["write", "writelines", "flush"]
    assert env["wsgi.multithread"]["value"] == "False"
    assert env["wsgi.run_once"]["value"] == "False"
    assert env["SERVER_PROTOCOL"]["value"] == "HTTP/1.1"
    server.assert_log_clean()


@pytest.mark.parametrize("workers", [1, 2])
def test_environ_multiprocess_flag(server_factory, workers):
    server = server_factory("echo", workers=workers)
    env = server.get("/").json()
    assert env["multithread"] is False
    if workers > 1:
        assert env["multiprocess"] is True
    else:
        assert isinstance(env["multiprocess"], bool)


def test_environ_over_unix_socket(server_factory):
    server = server_factory("echo", unix=True)
    env = server.get("/u?q=1").json()
    assert env["path"] == "/u"
    assert env["query"] == "q=1"
    assert env["server_name"]
    assert isinstance(env["server_port"], str)
    server.assert_log_clean()
