"""The two plain-head splitters (``appserver.http.plain``) agree.

The C twin must give exactly what ``split_python`` gives, None included, on
heads built from the bytes that matter to the grammar (separators, control
bytes, ``_``, ``#``, ``?``, obs-text), on prefixes of them, and within the
``size`` it is given even when the buffer holds more.
"""
import shutil

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from appserver.http import plain

C_SPLIT = None if plain.split is plain.split_python else plain.split
needs_c = pytest.mark.skipif(C_SPLIT is None, reason="the C splitter is not built")

TRICKY = b" \t\r\n:/?#_%-.!~\x00\x01\x7f\x80\xe9\xffaZ09"
NAMES = [b"Host", b"HOST", b"host", b"Content-Length", b"transfer-encoding",
         b"Connection", b"Expect", b"content-type", b"X-Y", b"a", b"X_Y", b""]
visible = st.binary(max_size=8).map(lambda b: bytes(c % 94 + 33 for c in b))
request_line = st.builds(
    lambda m, t, q, v: b"%s /%s%s %s\r\n" % (m, t, q, v),
    st.sampled_from([b"GET", b"POST", b"M-1", b"CONNECT"]),
    visible, st.sampled_from([b"", b"?", b"?a=1?b"]),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2"]))
field = st.builds(lambda n, ows, v: b"%s:%s%s\r\n" % (n, ows, v),
                  st.sampled_from(NAMES), st.sampled_from([b"", b" ", b"\t "]),
                  st.lists(visible, max_size=3).map(b" ".join))


@st.composite
def heads(draw):
    """A head that is mostly plain, then perhaps a few tricky bytes put in."""
    head = bytearray(draw(request_line) + b"".join(draw(st.lists(field, max_size=5))))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        at = draw(st.integers(0, len(head)))
        head[at:at] = bytes([draw(st.sampled_from(TRICKY))])
    return bytes(head)


def agree(head, size=None, max_fields=100):
    buf = bytearray(head)
    size = len(head) if size is None else size
    assert C_SPLIT(buf, size, max_fields) == plain.split_python(buf, size, max_fields), head


@needs_c
@settings(max_examples=3000, deadline=None)
@given(heads(), st.sampled_from([0, 1, 2, 100]))
def test_generated_heads(head, max_fields):
    agree(head, max_fields=max_fields)


@needs_c
@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=120), st.sampled_from([0, 1, 100]))
def test_arbitrary_bytes(head, max_fields):
    agree(head, max_fields=max_fields)


@needs_c
@settings(max_examples=1000, deadline=None)
@given(heads(), st.integers(0, 200))
def test_only_the_given_size_is_read(head, cut):
    agree(head + b"Host: tail\r\n", size=min(cut, len(head)))


@needs_c
@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: example.com\r\n",
    b"GET /p/a?q=1&r=%20?s HTTP/1.0\r\n",
    b"POST /up HTTP/1.1\r\nHOST: a\r\nhost: b\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\nX-Caf\xe9: no\r\n",
    b"GET / HTTP/1.1\r\nX-Value: caf\xe9 au lait\r\nEmpty:\r\nSpaces:   \r\n",
    b"GET / HTTP/1.1\r\nX-A: b \r\n",          # whitespace before the CRLF
    b"GET / HTTP/1.1\r\nX_A: b\r\n",           # "_" in a name
    b"GET / HTTP/1.1\r\nA: b\r\n c\r\n",       # folding
    b"CONNECT /x HTTP/1.1\r\n",
    b"GET /#frag HTTP/1.1\r\n",
    b"OPTIONS * HTTP/1.1\r\n",
])
def test_known_heads(head):
    for max_fields in (0, 1, 100):
        agree(head, max_fields=max_fields)


@needs_c
def test_a_plain_head_splits_into_its_parts():
    head = b"GET /a?b HTTP/1.1\r\nHost: h\r\nX-A:  1\r\nhost: i\r\n"
    assert C_SPLIT(bytearray(head), len(head), 100) == (
        "GET", "/a?b", "/a", "b", "HTTP/1.1", "GET /a?b HTTP/1.1",
        [("Host", "h"), ("X-A", "1"), ("host", "i")], {"host": ["h", "i"]})


@needs_c
def test_a_size_past_the_buffer_is_refused():
    with pytest.raises(ValueError):
        C_SPLIT(bytearray(b"GET / HTTP/1.1\r\n"), 100, 10)


@pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler")
def test_the_c_splitter_is_built_where_a_compiler_is():
    assert C_SPLIT is not None, "pip install -e . did not build appserver.http._plain"


@needs_c
def test_common_parts_are_shared_objects_equal_to_the_python_split():
    """Methods, versions and common field names come back as one shared str
    each (the C twin makes them once); a target without a query is its own
    path. What the head says is unchanged, and no reference is lost or
    leaked over many calls."""
    import sys
    heads = [b"GET /static/app.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n",
             b"HEAD /a?b=1 HTTP/1.0\r\nhost: a\r\nX-Other: 1\r\n",
             b"PURGE /x HTTP/1.1\r\nHOST: a\r\nHosts: b\r\nGe: c\r\n"]
    for head in heads:
        assert C_SPLIT(bytearray(head), len(head), 10) == plain.split_python(
            head, len(head), 10)
    first = C_SPLIT(bytearray(heads[0]), len(heads[0]), 10)
    again = C_SPLIT(bytearray(heads[0]), len(heads[0]), 10)
    assert first[0] is again[0] and first[4] is again[4]
    assert first[6][0][0] is again[6][0][0]         # "Host"
    assert first[1] is first[2] and first[3] == ""  # no query: the path is the target
    with_query = C_SPLIT(bytearray(heads[1]), len(heads[1]), 10)
    assert (with_query[1], with_query[2], with_query[3]) == ("/a?b=1", "/a", "b=1")
    counts = [sys.getrefcount(x) for x in (first[0], first[4], first[6][0][0])]
    for _ in range(1000):
        for head in heads:
            C_SPLIT(bytearray(head), len(head), 10)
    assert [sys.getrefcount(x) for x in (first[0], first[4], first[6][0][0])] == counts
