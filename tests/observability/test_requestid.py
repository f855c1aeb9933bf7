"""Unit tests for request ids (trusted peers: tests/proxy) and refused-request environs."""
import re


from appserver.observe.observer import rejected_environ
from appserver.wsgi.proxy import AllowList
from appserver.observe.requestid import RequestIds, new_id


def test_ids_are_new_unless_a_trusted_peer_sent_a_sane_one():
    ids = RequestIds(AllowList("127.0.0.1"))
    assert ids.choose("abc-1", "127.0.0.1") == "abc-1"
    for value, host in (("abc-1", "10.0.0.1"), ("has space", "127.0.0.1"),
                        ("x" * 201, "127.0.0.1"), ("", "127.0.0.1")):
        assert re.fullmatch(r"[0-9a-f]{32}", ids.choose(value, host))
    assert len({new_id() for _ in range(1000)}) == 1000


def test_rejected_environ_takes_the_request_line_when_there_is_one():
    env = rejected_environ(("10.0.0.1", 5000), b"PUT /a?b=1 HTTP/1.1\r\nHost: x\r\n")
    assert env == {"REMOTE_ADDR": "10.0.0.1", "REMOTE_PORT": "5000",
                   "REQUEST_METHOD": "PUT", "RAW_URI": "/a?b=1", "PATH_INFO": "/a",
                   "QUERY_STRING": "b=1", "SERVER_PROTOCOL": "HTTP/1.1"}
    assert rejected_environ(None, b"\x16\x03\x01garbage") == {"REMOTE_ADDR": ""}
