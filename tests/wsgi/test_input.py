"""Unit tests for appserver.wsgi.input: ``wsgi.input`` over a read_body callable.

Covers read (all, sized, zero, None, past the end), readline (across
pieces, with a size, last line without newline), readlines with and without
a hint, iteration, that the source is never read after its end nor beyond
what a call needs, the ``on_first_read`` hook (once, before the first pull,
not for ``read(0)``), ``started``/``exhausted``, and a chunked body pulled
through the real parser.
"""
import pytest

from appserver.http.parser import Data, EndOfMessage, RequestParser
from appserver.wsgi.input import Input


class Source:
    """A read_body callable over fixed pieces that counts its calls."""

    def __init__(self, *pieces):
        self.pieces = list(pieces)
        self.calls = 0
        self.sizes = []
        self.after_end = 0

    def __call__(self, size):
        assert size is None or size > 0
        self.sizes.append(size)
        self.calls += 1
        if not self.pieces:
            self.after_end += 1
            assert self.after_end == 1, "read_body() called again after its end"
            return b""
        return self.pieces.pop(0)


def make(*pieces, on_first_read=None):
    source = Source(*pieces)
    return Input(source, on_first_read), source


# -- read ----------------------------------------------------------------------

def test_read_all_joins_every_piece():
    body, source = make(b"ab", b"cd", b"e")
    assert body.read() == b"abcde"
    assert body.read() == b""
    assert body.exhausted() is True
    assert source.after_end == 1


@pytest.mark.parametrize("arg", [-1, None])
def test_read_negative_or_none_reads_all(arg):
    body, _ = make(b"ab", b"cd")
    assert body.read(arg) == b"abcd"


def test_read_sized_spans_pieces_and_keeps_the_rest():
    body, source = make(b"abc", b"defg", b"h")
    assert body.read(2) == b"ab"
    assert source.calls == 1
    assert body.read(3) == b"cde"
    assert source.calls == 2
    assert body.read(100) == b"fgh"
    assert body.read(1) == b""
    assert body.exhausted() is True


def test_read_sized_pulls_no_more_than_needed():
    body, source = make(b"abcdef", b"ghi")
    assert body.read(3) == b"abc"
    assert body.read(3) == b"def"       # served from the buffer
    assert source.calls == 1
    assert body.exhausted() is False


def test_read_zero_reads_nothing():
    calls = []
    body, source = make(b"abc", on_first_read=lambda: calls.append(1))
    assert body.read(0) == b""
    assert source.calls == 0
    assert calls == []
    assert body.started() is False


def test_empty_body():
    body, _ = make()
    assert body.read() == b""
    assert body.readline() == b""
    assert body.readlines() == []
    assert list(body) == []
    assert body.exhausted() is True


def test_read_returns_bytes():
    body, _ = make(bytearray(b"ab"), b"c")
    data = body.read(2)
    assert type(data) is bytes and data == b"ab"
    assert type(body.read()) is bytes


def test_sized_read_asks_only_for_what_it_lacks_and_keeps_the_rest():
    body, source = make(b"a" * 30, b"b" * 30, b"c" * 50)
    assert body.read(100) == b"a" * 30 + b"b" * 30 + b"c" * 40
    assert source.sizes == [100, 70, 40]
    assert body.read() == b"c" * 10


def test_a_piece_of_just_the_size_asked_reaches_the_app_uncopied():
    piece = bytes(range(256)) * 256
    body, _ = make(piece, b"rest")
    assert body.read(len(piece)) is piece
    assert body.read(4) == b"rest"


# -- readline ------------------------------------------------------------------

def test_readline_across_pieces():
    body, _ = make(b"first li", b"ne\nsec", b"ond\nthird")
    assert body.readline() == b"first line\n"
    assert body.readline() == b"second\n"
    assert body.readline() == b"third"
    assert body.readline() == b""


def test_readline_stops_at_first_newline_of_a_big_piece():
    body, source = make(b"a\nb\nc\n", b"never needed")
    assert body.readline() == b"a\n"
    assert body.readline() == b"b\n"
    assert source.calls == 1


@pytest.mark.parametrize("size,first,second", [
    (0, b"", b"abcdef\n"),
    (1, b"a", b"bcdef\n"),
    (3, b"abc", b"def\n"),
    (7, b"abcdef\n", b"xy"),
    (100, b"abcdef\n", b"xy"),
    (-1, b"abcdef\n", b"xy"),
])
def test_readline_with_size(size, first, second):
    body, _ = make(b"ab", b"cdef\nxy")
    assert body.readline(size) == first
    assert body.readline() == second


def test_readline_size_limit_without_newline_does_not_read_everything():
    body, source = make(b"abcd", b"efgh", b"ijkl")
    assert body.readline(5) == b"abcde"
    assert source.calls == 2


def test_readline_none_means_no_limit():
    # regression: readline(None) raised TypeError when no newline was buffered
    body, _ = make(b"no newline here")
    assert body.readline(None) == b"no newline here"


# -- readlines, iteration ------------------------------------------------------

def test_readlines_all():
    body, _ = make(b"a\nb", b"b\n", b"c")
    assert body.readlines() == [b"a\n", b"bb\n", b"c"]


def test_readlines_hint_stops_once_reached():
    body, _ = make(b"aa\nbb\ncc\ndd\n")
    assert body.readlines(4) == [b"aa\n", b"bb\n"]
    assert body.readlines(0) == [b"cc\n", b"dd\n"]     # 0: no hint


def test_iteration_yields_lines():
    body, _ = make(b"x\ny", b"\nz")
    assert iter(body) is body
    assert list(body) == [b"x\n", b"y\n", b"z"]


def test_mixing_read_and_readline():
    body, _ = make(b"head\nrest of", b" it")
    assert body.readline() == b"head\n"
    assert body.read(4) == b"rest"
    assert body.read() == b" of it"


# -- on_first_read, started, exhausted ------------------------------------------

def test_on_first_read_runs_once_before_the_first_pull():
    events = []
    source = Source(b"ab", b"cd")

    def read_body(size):
        events.append("read")
        return source(size)

    body = Input(read_body, lambda: events.append("continue"))
    assert body.started() is False
    assert body.read(1) == b"a"
    assert body.started() is True
    body.read()
    assert events[0] == "continue"
    assert events.count("continue") == 1
    assert events[1:] == ["read"] * (len(events) - 1)


@pytest.mark.parametrize("call", [lambda b: b.read(), lambda b: b.readline(),
                                  lambda b: b.readlines(), lambda b: next(iter(b), None)])
def test_every_read_method_triggers_on_first_read(call):
    calls = []
    body, _ = make(b"x\n", on_first_read=lambda: calls.append(1))
    call(body)
    assert calls == [1]


def test_started_without_hook():
    body, _ = make(b"a")
    assert body.started() is True


def test_exhausted_only_after_the_end_was_seen():
    body, _ = make(b"abc")
    assert body.exhausted() is False
    assert body.read(3) == b"abc"
    assert body.exhausted() is False        # the end has not been read yet
    assert body.read(1) == b""
    assert body.exhausted() is True


# -- with the real parser --------------------------------------------------------

def test_chunked_body_through_the_parser():
    parser = RequestParser()
    parser.feed(b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nline1\r\n7\r\n\nline2\n\r\n0\r\n\r\n"
                b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    request = parser.next_event()
    assert request.chunked

    def read_body(size):
        event = parser.next_event()
        if type(event) is Data:
            return event.data
        assert type(event) is EndOfMessage
        return b""

    body = Input(read_body)
    assert list(body) == [b"line1\n", b"line2\n"]
    assert body.exhausted()
    # the next pipelined request is intact: the body reader stopped at its end
    assert parser.next_event().target == "/next"


# -- read() of a whole body of known length ----------------------------------------

def test_read_all_with_a_length_after_a_readline():
    source = Source(b"line\nrest", b"-more", b"-end")
    body = Input(source, None, 18)
    assert body.readline() == b"line\n"
    data = body.read()
    assert type(data) is bytes and data == b"rest-more-end"
    assert body.exhausted() and body.read() == b""
    assert source.sizes[1:3] == [9, 4]      # what is left, never more


def test_a_sized_read_of_one_whole_piece_counts_it_against_the_length():
    source = Source(b"abcd", b"efg")
    body = Input(source, None, 7)
    piece = source.pieces[0]
    assert body.read(4) is piece            # handed over as it came
    assert body.read() == b"efg"
    assert source.sizes[1] == 3             # asks for what is left, no more


def test_read_all_of_a_body_cut_short_leaves_no_padding():
    body = Input(Source(b"abc"), None, 10)      # the connection ended early
    assert body.read() == b"abc"


def _rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


@pytest.mark.parametrize("declared", [10 ** 9, 10 ** 15])
def test_a_length_declared_but_not_sent_costs_no_memory(declared):
    before = _rss()
    body = Input(Source(b"abc"), None, declared)    # then the connection ended
    assert body.read() == b"abc"
    assert _rss() - before < 50 * 1000 * 1000


def test_read_all_of_unknown_length_gathers_every_piece():
    body = Input(Source(b"ab", b"cd"))
    assert body.readline(1) == b"a"
    assert body.read() == b"bcd"


def test_read_all_holds_the_body_about_once():
    import tracemalloc
    size, piece = 20_000_000, b"x" * 65536
    pieces = [piece] * (size // len(piece)) + [piece[:size % len(piece)]]
    tracemalloc.start()
    try:
        body = Input(Source(*pieces), None, size)
        start = tracemalloc.get_traced_memory()[0]
        data = body.read()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert len(data) == size
    assert peak < size * 1.1, "read() peaked at %.1f x the body" % (peak / size)
