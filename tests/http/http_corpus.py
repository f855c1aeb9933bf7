"""Loading corpus cases and replaying byte streams through the parser.

Contract: ``load_cases()`` returns every ``Case`` under ``requests/`` (see its
README for the file format); ``replay(data, cuts, limits)`` feeds ``data``
split at ``cuts``, then EOF, and returns the list of outcomes: one dict per
request (the fields of ``Request`` plus ``body`` and ``trailers``, and
``complete``), an ``{"error", "status"}`` dict if the parser raised, and
``"CLOSED"`` if it ended at a clean boundary. ``expected_outcomes`` turns a
case's JSON into the same shape for comparison.
"""
import base64
import json
import re
from pathlib import Path

from appserver.http.errors import HTTPError
from appserver.http.parser import (
    CLOSED, NEED_DATA, Data, EndOfMessage, Limits, Request, RequestParser,
)

CORPUS = Path(__file__).resolve().parent / "requests"
FIELDS = ("method", "target", "path", "query", "version", "headers", "dropped_headers",
          "host", "content_length", "chunked", "keep_alive", "expect_continue")
_ESCAPE = re.compile(rb"\\(\n|r|n|t|0|x[0-9a-fA-F]{2}|\\|.|$)|\n", re.S)
_BYTES = {b"\n": b"", b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0", b"\\": b"\\"}


def load_http(raw):
    """The bytes a ``.http`` file stands for (LF -> CRLF, escapes)."""
    def sub(match):
        if match.group(0) == b"\n":
            return b"\r\n"
        esc = match.group(1)
        if esc in _BYTES:
            return _BYTES[esc]
        if esc[:1] == b"x" and len(esc) == 3:
            return bytes([int(esc[1:], 16)])
        raise ValueError("unknown escape %r" % match.group(0))
    return _ESCAPE.sub(sub, raw)


class Case:
    __slots__ = ("name", "data", "limits", "expected")

    def __init__(self, name, data, spec):
        self.name = name
        self.data = data
        self.limits = Limits(**spec.pop("limits", {}))
        self.expected = expected_outcomes(spec)

    @property
    def valid(self):
        return "error" not in self.expected[-1]

    def __repr__(self):
        return self.name


def load_cases():
    cases = []
    for path in sorted(CORPUS.glob("*.http")):
        spec = json.loads(path.with_suffix(".json").read_text("utf-8"))
        cases.append(Case(path.stem, load_http(path.read_bytes()), spec))
    return cases


def expected_outcomes(spec):
    requests = spec.pop("requests", None) or [spec]
    out = []
    for exp in requests:
        exp = dict(exp)
        if "body_b64" in exp:
            exp["body"] = base64.b64decode(exp.pop("body_b64"))
        elif "body" in exp:
            exp["body"] = exp["body"].encode("latin-1")
        for key in ("headers", "trailers"):
            if key in exp:
                exp[key] = [tuple(pair) for pair in exp[key]]
        unknown = set(exp) - set(FIELDS) - {"body", "trailers", "error", "status"}
        assert not unknown, "unknown expectation keys %s" % unknown
        out.append(exp)
    if "error" not in out[-1]:
        out.append("CLOSED")
    return out


def _record(req):
    rec = {name: getattr(req, name) for name in FIELDS}
    rec.update(body=b"", trailers=None, complete=False)
    return rec


def drain(parser, out):
    """Pull events until the parser needs data; append outcomes to out."""
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            return
        if event is CLOSED:
            out.append("CLOSED")
            return
        if type(event) is Request:
            assert not out or out[-1]["complete"], "Request before EndOfMessage"
            out.append(_record(event))
        elif type(event) is Data:
            assert event.data and type(event.data) is bytes
            out[-1]["body"] += event.data
        else:
            assert type(event) is EndOfMessage and not out[-1]["complete"]
            out[-1].update(trailers=event.trailers, complete=True)


def replay(data, cuts=(), limits=None):
    parser = RequestParser(limits)
    out = []
    pieces = [data[i:j] for i, j in zip((0,) + tuple(cuts), tuple(cuts) + (len(data),))]
    try:
        for piece in pieces:
            if piece:
                parser.feed(piece)
                drain(parser, out)
        parser.feed(b"")
        drain(parser, out)
    except HTTPError as exc:
        if out and out[-1] != "CLOSED" and not out[-1]["complete"]:
            out.pop()  # the request whose body failed is reported as the error
        out.append({"error": type(exc).__name__, "status": exc.status})
        try:  # a dead parser keeps raising the same error
            parser.next_event()
        except HTTPError as again:
            assert again is exc
        else:
            raise AssertionError("parser still alive after %r" % exc)
    return out


def matches(expected, outcomes):
    """True if every expected outcome agrees with the observed one."""
    if len(expected) != len(outcomes):
        return False
    for exp, got in zip(expected, outcomes):
        if isinstance(exp, str) or "error" in exp:
            if exp != got:
                return False
        elif not isinstance(got, dict) or "error" in got or not got["complete"]:
            return False
        elif any(got[key] != value for key, value in exp.items()):
            return False
    return True


def describe(outcomes):
    """Outcomes with bodies shortened, for assertion messages."""
    return [o if isinstance(o, str) or "error" in o else
            dict(o, body=o["body"][:80], headers=o["headers"][:5]) for o in outcomes]
