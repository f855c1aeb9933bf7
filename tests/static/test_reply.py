"""appserver.static.reply: the static response rules, without a socket."""

import gzip
import os

import pytest

from appserver.http import writer
from appserver.static import Mount, StaticFiles
from appserver.static.reply import accepted, content_type

BODY = bytes(range(256)) * 40          # 10240 bytes
MTIME = 1_700_000_000


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "static"
    root.mkdir()
    for name, data in (("app.js", BODY), ("app.3f2a9c1b7e4d.css", b"body{}"),
                       ("app.js.gz", gzip.compress(BODY, mtime=0)), ("app.js.br", b"BROTLI"),
                       ("only.css", b"p{}"), ("only.css.gz", b"GZ"),
                       ("empty.txt", b""), (".hidden", b"x")):
        (root / name).write_bytes(data)
        os.utime(root / name, (MTIME, MTIME))
    (root / "sub").mkdir()
    return root


@pytest.fixture
def static(site):
    return StaticFiles([Mount("/static/", str(site))], max_age=120)


def parse(reply):
    """(status, {lowercased name: value}, body bytes) of a reply."""
    head = reply.head.decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    fields = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.lower()] = value.strip()
    if reply.file is not None:
        reply.file.seek(reply.offset)
        body = reply.file.read(reply.count)
        reply.close()
    else:
        body = reply.body
    assert status == reply.status
    return status, fields, body


def get(static, path, method="GET", **headers):
    pairs = [(k.replace("_", "-"), v) for k, v in headers.items()]
    return parse(static.answer(method, path, pairs))


def test_whole_file(static):
    status, fields, body = get(static, "/static/app.js")
    assert status == 200 and body == BODY
    assert fields["content-length"] == str(len(BODY))
    assert fields["content-type"] == "text/javascript; charset=utf-8"
    assert fields["last-modified"] == writer.http_date(MTIME)
    assert fields["etag"].startswith('"') and not fields["etag"].startswith('W/')
    assert fields["cache-control"] == "public, max-age=120"
    assert fields["accept-ranges"] == "bytes"
    assert fields["vary"] == "Accept-Encoding"
    assert "content-encoding" not in fields


def test_head_has_the_get_headers_and_no_body(static):
    _, get_fields, _ = get(static, "/static/app.js")
    status, fields, body = get(static, "/static/app.js", "HEAD")
    assert status == 200 and body == b""
    assert fields["content-length"] == str(len(BODY))
    assert fields["etag"] == get_fields["etag"]


def test_the_query_string_is_not_part_of_the_path(static):
    # the parser gives the path without its query; a '?' in the path is a file name
    assert get(static, "/static/app.js%3Fv=1")[0] == 404


def test_hashed_names_are_immutable(static):
    status, fields, _ = get(static, "/static/app.3f2a9c1b7e4d.css")
    assert status == 200
    assert fields["cache-control"] == "public, max-age=31536000, immutable"
    assert fields["content-type"] == "text/css; charset=utf-8"
    assert "vary" not in fields


@pytest.mark.parametrize("accept, coding, body", [
    ("gzip, deflate, br", "br", b"BROTLI"),
    ("gzip", "gzip", gzip.compress(BODY, mtime=0)),
    ("br;q=0.5, gzip;q=0.8", "gzip", gzip.compress(BODY, mtime=0)),
    ("br;q=0, gzip;q=0", None, BODY),
    ("identity", None, BODY),
    ("*", "br", b"BROTLI"),
    ("*;q=0.1, br;q=0", "gzip", gzip.compress(BODY, mtime=0)),
    ("x-gzip", "gzip", gzip.compress(BODY, mtime=0)),
    ("BR", "br", b"BROTLI"),
])
def test_precompressed_choice(static, accept, coding, body):
    status, fields, got = get(static, "/static/app.js", accept_encoding=accept)
    assert status == 200 and got == body
    assert fields.get("content-encoding") == coding
    assert fields["vary"] == "Accept-Encoding"
    assert fields["content-length"] == str(len(body))
    assert fields["content-type"] == "text/javascript; charset=utf-8"


def test_each_representation_has_its_own_etag(static):
    tags = {get(static, "/static/app.js", accept_encoding=a)[1]["etag"]
            for a in ("", "gzip", "br")}
    assert len(tags) == 3


def test_only_gzip_sibling(static):
    _, fields, body = get(static, "/static/only.css", accept_encoding="br, gzip")
    assert fields["content-encoding"] == "gzip" and body == b"GZ"


def test_a_sibling_is_never_served_by_its_own_name_as_the_original(static):
    status, fields, body = get(static, "/static/app.js.gz")
    assert status == 200 and "content-encoding" not in fields
    assert fields["content-type"] == "application/gzip"


def test_if_none_match_gives_304(static):
    etag = get(static, "/static/app.js")[1]["etag"]
    for header in (etag, 'W/' + etag, '"other", ' + etag, "*"):
        status, fields, body = get(static, "/static/app.js", if_none_match=header)
        assert status == 304 and body == b""
        assert fields["etag"] == etag and "content-length" not in fields
        assert fields["cache-control"] and fields["vary"] == "Accept-Encoding"
    assert get(static, "/static/app.js", if_none_match='"other"')[0] == 200


def test_if_none_match_of_another_encoding_is_200(static):
    gz = get(static, "/static/app.js", accept_encoding="gzip")[1]["etag"]
    assert get(static, "/static/app.js", if_none_match=gz)[0] == 200
    assert get(static, "/static/app.js", if_none_match=gz, accept_encoding="gzip")[0] == 304


def test_if_modified_since(static):
    assert get(static, "/static/app.js", if_modified_since=writer.http_date(MTIME))[0] == 304
    assert get(static, "/static/app.js",
               if_modified_since=writer.http_date(MTIME + 10))[0] == 304
    assert get(static, "/static/app.js",
               if_modified_since=writer.http_date(MTIME - 1))[0] == 200
    assert get(static, "/static/app.js", if_modified_since="yesterday")[0] == 200


def test_if_none_match_wins_over_if_modified_since(static):
    assert get(static, "/static/app.js", if_none_match='"other"',
               if_modified_since=writer.http_date(MTIME))[0] == 200


def test_if_match_and_if_unmodified_since(static):
    etag = get(static, "/static/app.js")[1]["etag"]
    assert get(static, "/static/app.js", if_match=etag)[0] == 200
    assert get(static, "/static/app.js", if_match='"nope"')[0] == 412
    assert get(static, "/static/app.js", if_match="W/" + etag)[0] == 412
    assert get(static, "/static/app.js",
               if_unmodified_since=writer.http_date(MTIME - 5))[0] == 412
    assert get(static, "/static/app.js",
               if_unmodified_since=writer.http_date(MTIME))[0] == 200


@pytest.mark.parametrize("header, first, last", [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, len(BODY) - 1),
    ("bytes=-10", len(BODY) - 10, len(BODY) - 1), ("bytes=10-10", 10, 10),
    ("bytes=10-999999", 10, len(BODY) - 1), ("bytes=-999999", 0, len(BODY) - 1),
    ("bytes = 5-6", 5, 6),
])
def test_single_range_206(static, header, first, last):
    status, fields, body = get(static, "/static/app.js", range=header)
    assert status == 206
    assert body == BODY[first:last + 1]
    assert fields["content-range"] == "bytes %d-%d/%d" % (first, last, len(BODY))
    assert fields["content-length"] == str(last - first + 1)


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable_range_416(static, header):
    status, fields, body = get(static, "/static/app.js", range=header)
    assert status == 416
    assert fields["content-range"] == "bytes */%d" % len(BODY)
    assert get(static, "/static/app.js", "HEAD", range=header)[2] == b""


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=-",
                                    "bytes=a-b", "0-1"])
def test_ignored_ranges_give_the_whole_file(static, header):
    status, _, body = get(static, "/static/app.js", range=header)
    assert status == 200 and body == BODY


def test_if_range(static):
    etag = get(static, "/static/app.js")[1]["etag"]
    assert get(static, "/static/app.js", range="bytes=0-0", if_range=etag)[0] == 206
    assert get(static, "/static/app.js", range="bytes=0-0", if_range='"old"')[0] == 200
    assert get(static, "/static/app.js", range="bytes=0-0", if_range="W/" + etag)[0] == 200
    assert get(static, "/static/app.js", range="bytes=0-0",
               if_range=writer.http_date(MTIME))[0] == 206
    assert get(static, "/static/app.js", range="bytes=0-0",
               if_range=writer.http_date(MTIME + 1))[0] == 200


def test_range_of_an_empty_file_is_416(static):
    assert get(static, "/static/empty.txt", range="bytes=0-")[0] == 416
    status, fields, body = get(static, "/static/empty.txt")
    assert status == 200 and body == b"" and fields["content-length"] == "0"


@pytest.mark.parametrize("path", ["/static/.hidden", "/static/sub", "/static/sub/",
                                  "/static/missing.js", "/static/../static/app.js",
                                  "/static/%2e%2e/static/app.js", "/static/"])
def test_not_found(static, path):
    status, fields, body = get(static, path)
    assert status == 404 and body == b"404 Not Found\n"
    assert fields["content-length"] == str(len(body))
    assert "connection" not in fields           # the connection is kept


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_405(static, method):
    status, fields, _ = get(static, "/static/app.js", method)
    assert status == 405 and fields["allow"] == "GET, HEAD"


def test_fallback_leaves_a_missing_file_to_the_app(site):
    static = StaticFiles([Mount("/static/", str(site))], fallback=True)
    assert static.answer("GET", "/static/missing.js", []) is None
    assert static.answer("GET", "/static/.hidden", []) is None
    assert static.answer("GET", "/static/app.js", []).status == 200


def test_claims():
    static = StaticFiles([Mount("/static/", "/nowhere")])
    assert static.claims("/static/x") and not static.claims("/other")


def test_repeated_fields_are_joined(static):
    etag = get(static, "/static/app.js")[1]["etag"]
    reply = static.answer("GET", "/static/app.js", [("If-None-Match", '"a"'),
                                                    ("if-none-match", etag)])
    assert reply.status == 304


def test_accepted_weights():
    assert accepted("gzip;q=0.5, br, *;q=0") == {"gzip": 0.5, "br": 1.0, "*": 0.0}
    assert accepted("gzip;q=bad") == {"gzip": 0.0}
    assert accepted(None) == {}


@pytest.mark.parametrize("name, kind", [
    ("a.css", "text/css; charset=utf-8"), ("a.woff2", "font/woff2"),
    ("a.png", "image/png"), ("a.svg", "image/svg+xml; charset=utf-8"),
    ("a.json", "application/json; charset=utf-8"), ("noext", "application/octet-stream"),
    ("A.JS", "text/javascript; charset=utf-8"),
])
def test_content_type(name, kind):
    assert content_type(name) == kind


def test_connection_header(static):
    assert "connection" not in get_raw(static, "HTTP/1.1", True)
    assert get_raw(static, "HTTP/1.1", False)["connection"] == "close"
    assert get_raw(static, "HTTP/1.0", True)["connection"] == "keep-alive"
    assert get_raw(static, "HTTP/1.0", False)["connection"] == "close"
    reply = static.answer("GET", "/static/missing", [], "HTTP/1.1", False)
    assert parse(reply)[1]["connection"] == "close"


def get_raw(static, version, keep):
    return parse(static.answer("GET", "/static/app.js", [], version, keep))[1]
