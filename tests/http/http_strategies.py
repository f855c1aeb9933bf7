"""Hypothesis strategies for valid HTTP/1.1 requests and mangled ones.

Contract: ``valid_requests()`` draws a ``Drawn`` request: the raw bytes plus
what a correct parser must report (method, target, headers without the
underscore ones, body, trailers). Values carry random OWS and obs-text;
bodies are framed by Content-Length or chunked (random chunk sizes and
extensions, trailers). ``mangled(drawn)`` returns bytes with a few random
edits aimed at the places parsers get wrong. ``environ_requests()`` draws a
valid request with headers the server treats specially mixed in (a client's
``X-Request-ID``, forwarding headers, ``Content-Type``, repeated ``Cookie``,
one name in several cases) and returns ``(data, names)``: the bytes and every
header name sent, in order.
"""
import hypothesis.strategies as st

ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TCHAR = ALPHA + "0123456789!#$%&'*+-.^`|~"  # "_" is added on purpose below
PCHAR = ALPHA + "0123456789-._~!$&'()*+,;=:@%"
VCHAR = "".join(map(chr, range(0x21, 0x7F)))
OBS_TEXT = "".join(map(chr, range(0x80, 0x100)))
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "expect",
            "content-type", "te", "trailer", "upgrade"}


class Drawn:
    __slots__ = ("data", "method", "target", "version", "headers", "body", "trailers")

    def __init__(self, **kw):
        for key, value in kw.items():
            setattr(self, key, value)

    def __repr__(self):
        return "Drawn(%r)" % (self.data,)


def _join(words, seps):
    return words[0] + "".join(s + w for s, w in zip(seps, words[1:])) if words else ""


tokens = st.text(TCHAR, min_size=1, max_size=10)
names = st.builds(str.__add__, tokens, st.sampled_from(["", "", "", "_x"])).filter(
    lambda n: n.lower() not in RESERVED)
words = st.text(VCHAR + OBS_TEXT[:8], min_size=1, max_size=8)
ows = st.sampled_from(["", "", " ", "\t", "  ", " \t "])
values = st.builds(_join, st.lists(words, max_size=4),
                   st.lists(st.sampled_from([" ", "\t", "  "]), min_size=3, max_size=3))
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) | (
    tokens.filter(lambda m: m != "CONNECT"))
queries = st.one_of(st.just(""), st.text(PCHAR + "/?", max_size=12).map("?".__add__))
targets = st.builds(lambda segs, query: "/" + "/".join(segs) + query,
                    st.lists(st.text(PCHAR, max_size=8), max_size=4), queries)
hosts = st.sampled_from(
    ["example.com", "localhost:8000", "127.0.0.1", "[::1]:443", "a-b.example."])
extensions = st.lists(st.tuples(tokens, st.sampled_from(["", "=v", '="q \\" s"', "=tok"])),
                      max_size=2).map(lambda exts: "".join(";%s%s" % e for e in exts))


def _field(name, value, pad):
    return "%s:%s%s%s\r\n" % (name, pad[0], value, pad[1])


def _insert(draw, fields, name, value):
    fields.insert(draw(st.integers(0, len(fields))), (name, value, ("", "")))


@st.composite
def valid_requests(draw):
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
    method, target = draw(methods), draw(targets)
    fields = draw(st.lists(st.tuples(names, values, st.tuples(ows, ows)), max_size=8))
    if version == "HTTP/1.1" or draw(st.booleans()):
        _insert(draw, fields, draw(st.sampled_from(["Host", "host", "HOST"])), draw(hosts))
    framings = ["none", "length"] + (["chunked"] if version == "HTTP/1.1" else [])
    framing = draw(st.sampled_from(framings))
    body = draw(st.binary(max_size=300)) if framing != "none" else b""
    trailers, payload = [], body
    if framing == "length":
        _insert(draw, fields, "Content-Length", str(len(body)))
    elif framing == "chunked":
        _insert(draw, fields, "Transfer-Encoding", "chunked")
        trailer_names = names.filter(lambda n: "_" not in n)
        trailers = draw(st.lists(st.tuples(trailer_names, values), max_size=3))
        payload = _chunked(draw, body, trailers)
    head = "%s %s %s\r\n" % (method, target, version)
    head += "".join(_field(*f) for f in fields) + "\r\n"
    return Drawn(data=head.encode("latin-1") + payload, method=method, target=target,
                 version=version, body=body, trailers=trailers,
                 headers=[(n, v) for n, v, _ in fields if "_" not in n])


def _chunked(draw, body, trailers):
    out, i = [], 0
    while i < len(body):
        size = draw(st.integers(1, max(1, len(body) - i)))
        line = draw(st.sampled_from(["%x", "%X", "%04x"])) % size + draw(extensions)
        out.append(line.encode() + b"\r\n" + body[i:i + size] + b"\r\n")
        i += size
    out.append(b"0" + draw(extensions).encode() + b"\r\n")
    out.extend(("%s: %s\r\n" % t).encode("latin-1") for t in trailers)
    return b"".join(out) + b"\r\n"


SPLICES = [b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\t", b":", b";", b"_", b"\x7f", b"\xff",
           b"0\r\n\r\n", b"\r\n\r\n", b"Transfer-Encoding: chunked\r\n", b"Content-Length: 5\r\n",
           b"Host: h\r\n", b"Expect: 100-continue\r\n", b" HTTP/1.1", b"ffffffffffffffff\r\n"]


@st.composite
def mangled(draw, drawn):
    """The request's bytes with one to four random edits."""
    data = bytearray(drawn.data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        if kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            piece = draw(st.sampled_from(SPLICES) | st.binary(min_size=1, max_size=4))
            data[at:at + (len(piece) if kind == "replace" else 0)] = piece
    return bytes(data)


EXTRA_HEADERS = [
    ("X-Request-ID", st.sampled_from(["abc-1", "client chosen", "x" * 300])),
    ("x-request-id", st.just("lower-case-name")),
    ("X-Forwarded-For", st.sampled_from(["1.2.3.4", "1.2.3.4, 10.0.0.1", "junk"])),
    ("X-Forwarded-Proto", st.sampled_from(["https", "gopher"])),
    ("X-Forwarded-Host", st.sampled_from(["evil.test", "a:1"])),
    ("X-Forwarded-Port", st.sampled_from(["8443", "x"])),
    ("Forwarded", st.sampled_from(["for=1.2.3.4;proto=https", "for=unknown"])),
    ("X-Forwarded-Prefix", st.sampled_from(["/app", "nope"])),
    ("X-Script-Name", st.sampled_from(["/app", "/"])),
    ("Cookie", st.sampled_from(["a=1", "b=2; c=3"])),
    ("Content-Type", st.sampled_from(["text/plain", "application/x-www-form-urlencoded"])),
    ("Script-Name", st.just("/evil")),
    ("Remote-Addr", st.just("6.6.6.6")),
    ("Server-Port", st.just("1")),
    ("X-Custom", values),
    ("x-CUSTOM", values),
]


@st.composite
def environ_requests(draw, methods_allowed=None):
    """(data, names) of a valid request with special headers mixed in."""
    drawn = draw(valid_requests())
    if methods_allowed is not None:
        from hypothesis import assume
        assume(drawn.method in methods_allowed)
    picks = draw(st.lists(st.sampled_from(EXTRA_HEADERS), max_size=6))
    picks = [p for i, p in enumerate(picks)         # one Content-Type at most
             if p[0] != "Content-Type" or all(q[0] != "Content-Type" for q in picks[:i])]
    extra = [(name, draw(value)) for name, value in picks]
    line_end = drawn.data.index(b"\r\n") + 2
    head_end = drawn.data.index(b"\r\n\r\n") + 2
    fields = drawn.data[line_end:head_end].split(b"\r\n")[:-1]
    for name, value in extra:
        at = draw(st.integers(0, len(fields)))
        fields.insert(at, ("%s: %s" % (name, value)).encode("latin-1"))
    data = (drawn.data[:line_end] + b"".join(f + b"\r\n" for f in fields)
            + drawn.data[head_end:])
    names = [f.split(b":", 1)[0].decode("latin-1") for f in fields]
    return data, names


# What docs/proxy.md says is removed from the environ when the peer is not a
# trusted proxy.
FORWARDING = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
              "x-forwarded-port", "forwarded", "x-forwarded-prefix", "x-script-name",
              "x-forwarded-ssl", "x-forwarded-protocol"}     # secure-scheme-headers


def sent_http_keys(names):
    """The ``HTTP_`` keys an app must see for these header names, sent by a
    peer that is not a trusted proxy: every name, less those with ``_``
    (dropped), ``Content-Type``/``Content-Length`` (CGI keys without the
    prefix) and the forwarding headers (removed)."""
    keys = set()
    for name in names:
        lower = name.lower()
        if "_" in name or lower in ("content-type", "content-length") or lower in FORWARDING:
            continue
        keys.add("HTTP_" + name.upper().replace("-", "_"))
    return keys
