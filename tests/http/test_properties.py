"""Properties of the parser over generated input.

1. Any bytes, in any split, yield only well-formed event sequences or an
   HTTPError subclass, never another exception; mangled requests give the
   same outcome whole and split.
2. A generated valid request parses to what was generated; serialising the
   parsed request back to bytes and parsing again gives the same result.
"""
import pytest
import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from appserver.http.parser import Limits
from http_corpus import FIELDS, replay
from http_strategies import mangled, valid_requests

pytestmark = pytest.mark.usefixtures("both_plain_splits")
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
TIGHT = Limits(request_line=30, fields=3, field_size=20, body=16)
cuts = st.lists(st.integers(1, 400), max_size=12).map(lambda c: sorted(set(c)))


def _cuts(data, positions):
    return [p for p in positions if p < len(data)]


@SETTINGS
@given(st.binary(max_size=600), cuts)
def test_arbitrary_bytes_give_events_or_http_errors(data, positions):
    replay(data, _cuts(data, positions))  # any other exception fails the test


@SETTINGS
@given(st.data(), cuts, st.sampled_from([None, TIGHT]))
def test_mangled_requests_give_the_same_outcome_however_split(data, positions, limits):
    raw = data.draw(mangled(data.draw(valid_requests())))
    raw = raw + raw[: data.draw(st.integers(0, len(raw)))]  # pipelined tail
    assert replay(raw, _cuts(raw, positions), limits) == replay(raw, (), limits)


def serialise(rec):
    """Bytes for a parsed request record (head fields, body, trailers)."""
    head = "%s %s %s\r\n" % (rec["method"], rec["target"], rec["version"])
    head += "".join("%s: %s\r\n" % pair for pair in rec["headers"]) + "\r\n"
    body = rec["body"]
    if rec["chunked"]:
        chunk = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
        trailers = "".join("%s: %s\r\n" % pair for pair in rec["trailers"])
        body = chunk + b"0\r\n" + trailers.encode("latin-1") + b"\r\n"
    return head.encode("latin-1") + body


@SETTINGS
@given(valid_requests(), cuts)
def test_valid_requests_parse_as_generated_and_round_trip(drawn, positions):
    first = replay(drawn.data, _cuts(drawn.data, positions))
    assert len(first) == 2 and first[1] == "CLOSED", first
    rec = first[0]
    assert rec["method"] == drawn.method and rec["target"] == drawn.target
    assert rec["version"] == drawn.version
    assert rec["headers"] == drawn.headers
    assert (rec["body"], rec["trailers"]) == (drawn.body, drawn.trailers)
    again = replay(serialise(rec))
    assert len(again) == 2 and again[1] == "CLOSED", again
    for key in FIELDS + ("body", "trailers"):
        if key != "dropped_headers":
            assert again[0][key] == rec[key], key
