"""appserver.static.cache: a path resolved once is answered from its entry
while the file system says nothing changed, and resolved again (every rule)
as soon as something did: content, a new inode, a removed file, a sibling
made or removed, a path component or the file swapped for a symbolic link
leading outside. The cache stays within its bounds."""

import os

import pytest

from appserver.static import Mount, StaticFiles
from appserver.static import cache
from appserver.static.cache import MAX_BODY, FileCache

MTIME = 1_700_000_000
C_FILE_KEY = None if cache.file_key is cache.file_key_python else cache.file_key


@pytest.fixture(params=["c", "python"], autouse=True)
def file_key(request, monkeypatch):
    """Every test here runs with the C twin of ``file_key`` (skipped when it
    was not built) and with the pure-Python one."""
    if request.param == "c":
        if C_FILE_KEY is None:
            pytest.skip("the C file key is not built")
        monkeypatch.setattr(cache, "file_key", C_FILE_KEY)
    else:
        monkeypatch.setattr(cache, "file_key", cache.file_key_python)
    return cache.file_key


def test_the_c_file_key_is_built_where_a_compiler_is(file_key):
    assert C_FILE_KEY is not None, (
        "appserver.static._filekey is not built: run pip install -e . "
        "(or python setup.py build_ext --inplace)")


def test_file_key_is_the_stat_key_of_what_the_path_names(file_key, tmp_path):
    named = tmp_path / "caf\u00e9 \udcff.css"        # not UTF-8: surrogateescape
    named.write_bytes(b"x" * 123)
    os.utime(named, ns=(5, 1_700_000_000_123_456_789))
    link = tmp_path / "link.css"
    link.symlink_to(named)
    for path in (str(named), str(tmp_path), str(link), os.fsencode(str(named))):
        assert file_key(path) == cache.stat_key(os.stat(path))
    assert file_key(str(link)) == file_key(str(named))      # the link is followed
    assert file_key(str(named))[2:4] == (123, 1_700_000_000_123_456_789)


@pytest.mark.parametrize("ns", [-1_500_000_000_123_456_789, 2**63 + 12_345])
def test_file_key_holds_times_before_1970_and_after_2262(file_key, tmp_path, ns):
    path = tmp_path / "old.css"
    path.write_bytes(b"x")
    try:
        os.utime(path, ns=(ns, ns))
    except (OSError, OverflowError) as exc:
        pytest.skip("the file system does not keep that time: %s" % exc)
    if os.stat(path).st_mtime_ns != ns:
        pytest.skip("the file system does not keep that time")
    assert file_key(str(path)) == cache.stat_key(os.stat(path))
    assert file_key(str(path))[3] == ns


def test_file_key_raises_what_os_stat_raises(file_key, tmp_path):
    missing = str(tmp_path / "missing.css")
    with pytest.raises(FileNotFoundError) as caught:
        file_key(missing)
    assert caught.value.filename == missing
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        file_key(str(tmp_path / "file" / "below"))
    with pytest.raises(ValueError):
        file_key(str(tmp_path) + "/a\x00b")


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "css" / "app.css").write_bytes(b"a" * 100)
    os.utime(root / "css" / "app.css", (MTIME, MTIME))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "app.css").write_bytes(b"SECRET" * 10)
    return root


@pytest.fixture
def static(site):
    return StaticFiles([Mount("/static/", str(site))])


def body(reply):
    if reply.file is None:
        return reply.body
    reply.file.seek(reply.offset)
    data = reply.file.read(reply.count)
    reply.close()
    return data


def answer(static, path="/static/css/app.css", **headers):
    return static.answer("GET", path, [(k.replace("_", "-"), v) for k, v in headers.items()])


def test_a_second_request_comes_from_the_entry(static, monkeypatch):
    assert body(answer(static)) == b"a" * 100 and len(static.cache) == 1
    monkeypatch.setattr(os.path, "realpath", lambda *a: pytest.fail("resolved again"))
    reply = answer(static)
    assert reply.status == 200 and reply.file is None and body(reply) == b"a" * 100


def test_content_changed_in_place_is_served_fresh(static, site):
    path = site / "css" / "app.css"
    assert body(answer(static)) == b"a" * 100
    path.write_bytes(b"b" * 100)            # same size, and the old mtime put back:
    os.utime(path, (MTIME, MTIME))          # only the ctime tells
    assert body(answer(static)) == b"b" * 100


def test_a_file_replaced_by_rename_and_a_removed_file(static, site):
    path = site / "css" / "app.css"
    answer(static)
    new = site / "css" / "new.tmp"
    new.write_bytes(b"new")
    os.replace(new, path)
    reply = answer(static)
    assert body(reply) == b"new" and b"Content-Length: 3\r\n" in reply.head
    path.unlink()
    assert answer(static).status == 404


def test_a_sibling_made_or_removed_later_is_seen(static, site, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    answer(static, accept_encoding="gzip")
    (site / "css" / "app.css.gz").write_bytes(b"GZ")
    clock[0] += 0.5                         # the directory is not looked at yet
    reply = answer(static, accept_encoding="gzip")
    assert body(reply) == b"a" * 100 and b"Vary" not in reply.head
    clock[0] += 0.5                         # one directory_every after the last look
    reply = answer(static, accept_encoding="gzip")
    assert body(reply) == b"GZ" and b"Content-Encoding: gzip\r\n" in reply.head
    assert b"Vary: Accept-Encoding\r\n" in reply.head
    (site / "css" / "app.css.gz").write_bytes(b"G2")        # changed in place
    assert body(answer(static, accept_encoding="gzip")) == b"G2"
    (site / "css" / "app.css.gz").unlink()             # seen at once: it is checked
    reply = answer(static, accept_encoding="gzip")
    assert body(reply) == b"a" * 100 and b"Vary" not in reply.head


def test_a_directory_swapped_for_a_symlink_outside_is_refused(static, site):
    answer(static)
    os.rename(site / "css", site / "old")
    os.symlink(site.parent / "outside", site / "css")
    reply = answer(static)
    assert reply.status == 404 and b"SECRET" not in body(reply)


def test_the_file_swapped_for_a_symlink_outside_is_refused(static, site):
    answer(static)
    (site / "css" / "app.css").unlink()
    os.symlink(site.parent / "outside" / "app.css", site / "css" / "app.css")
    reply = answer(static)
    assert reply.status == 404 and b"SECRET" not in body(reply)


def test_large_files_are_sent_from_the_file_and_fresh_too(static, site):
    path = site / "big.bin"
    path.write_bytes(b"x" * (MAX_BODY + 1))
    reply = answer(static, "/static/big.bin")
    assert reply.file is not None and body(reply) == b"x" * (MAX_BODY + 1)
    path.write_bytes(b"y" * (MAX_BODY + 2))
    reply = answer(static, "/static/big.bin", range="bytes=-3")
    assert reply.status == 206 and body(reply) == b"yyy"
    assert b"Content-Range: bytes 65535-65537/65538\r\n" in reply.head


def test_ranges_and_conditions_of_a_cached_small_file(static):
    etag = dict(line.split(": ", 1) for line in
                answer(static).head.decode().split("\r\n")[1:] if ": " in line)["ETag"]
    assert answer(static, if_none_match=etag).status == 304
    reply = answer(static, range="bytes=10-19")
    assert reply.status == 206 and body(reply) == b"a" * 10
    assert answer(static, if_match='"other"').status == 412
    reply = answer(static, range="bytes=500-")
    assert reply.status == 416 and reply.head.count(b"Content-Type:") == 1
    assert b"Content-Range: bytes */100\r\n" in reply.head


def test_refused_paths_are_not_kept(static, site):
    (site / ".env").write_bytes(b"SECRET")
    for path in ("/static/.env", "/static/css/../css/app.css", "/static/nothing",
                 "/static/css"):
        assert answer(static, path).status == 404
    assert len(static.cache) == 0


def test_bounds(site):
    static = StaticFiles([Mount("/static/", str(site))])
    static.cache = FileCache(max_entries=3, max_bytes=250)
    for i in range(5):
        (site / ("f%d.txt" % i)).write_bytes(b"z" * 100)
        assert answer(static, "/static/f%d.txt" % i).status == 200
        assert len(static.cache) <= 2 and static.cache.bytes <= 250
    assert list(static.cache.entries) == ["/static/f3.txt", "/static/f4.txt"]
