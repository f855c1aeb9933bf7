"""h11 as an oracle: on generated valid requests (Content-Length and chunked
bodies), appserver and h11 agree on method, target, headers, body, trailers.
"""
import h11
import pytest
from hypothesis import given, settings

from http_corpus import replay
from http_strategies import valid_requests

pytestmark = pytest.mark.usefixtures("both_plain_splits")


def h11_parse(data):
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")
    request, body = conn.next_event(), b""
    assert type(request) is h11.Request, request
    while True:
        event = conn.next_event()
        if type(event) is h11.Data:
            body += event.data
        else:
            assert type(event) is h11.EndOfMessage, event
            return request, body, event.headers


def _pairs(headers):
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


@settings(max_examples=300, deadline=None)
@given(valid_requests())
def test_agrees_with_h11(drawn):
    ours = replay(drawn.data)
    assert len(ours) == 2 and ours[1] == "CLOSED", ours
    ours = ours[0]
    request, body, trailers = h11_parse(drawn.data)
    assert request.method.decode("latin-1") == ours["method"]
    assert request.target.decode("latin-1") == ours["target"]
    assert request.http_version.decode() == ours["version"][5:]
    theirs = [(n, v) for n, v in _pairs(request.headers) if "_" not in n]
    assert theirs == [(n.lower(), v) for n, v in ours["headers"]]
    assert body == ours["body"]
    assert _pairs(trailers) == [(n.lower(), v) for n, v in ours["trailers"]]
    assert ours["chunked"] == (b"chunked" in dict(request.headers).get(b"transfer-encoding", b""))
