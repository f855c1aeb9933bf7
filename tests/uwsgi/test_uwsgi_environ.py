"""Unit tests for appserver.http.uwsgi: the environ of a uwsgi request.

The environ is PEP 3333 (``wsgiref.validate.check_environ``), says who the
client is from the vars (else from the peer), keeps the listener's keys the
vars do not set, and vars cannot replace the ``wsgi.*`` keys.
"""
import io
from wsgiref.validate import check_environ

from appserver.http.parser import Limits
from appserver.net.sockets import Listener
from appserver.http.uwsgi import UwsgiParser, build_environ, pack
from appserver.wsgi.environ import base_environ

from .test_uwsgi_parser import GET, PACKET

BASE = base_environ(Listener(None, "tcp", ("127.0.0.1", 8000)), True)


def parse(data):
    parser = UwsgiParser(Limits())
    parser.feed(data)
    return parser.next_event()


def test_environ_is_pep3333_and_the_client_comes_from_the_vars():
    body = io.BytesIO()
    env = build_environ(BASE, parse(PACKET), ("127.0.0.1", 40000), body)
    check_environ(env)
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("203.0.113.7", "51234")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "80")
    assert env["wsgi.input"] is body and env["wsgi.multiprocess"] is True
    assert env["HTTP_X_FORWARDED_FOR"] == "198.51.100.1"


def test_environ_without_client_vars_uses_the_peer_and_the_listener():
    env = build_environ(BASE, parse(pack(GET + [("PATH_INFO", "/")])),
                        ("127.0.0.1", 40000), None)
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", "40000")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert build_environ(BASE, parse(pack(GET)), "", None)["REMOTE_ADDR"] == ""


def test_vars_cannot_replace_wsgi_keys():
    env = build_environ(BASE, parse(pack(GET + [("HTTPS", "on")])), "", "INPUT")
    assert env["wsgi.input"] == "INPUT" and env["wsgi.url_scheme"] == "https"
    assert env["wsgi.version"] == (1, 0)


# -- allow list ---------------------------------------------------------------------
