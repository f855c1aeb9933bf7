"""appserver.static.paths: mounts and safe resolution, on a real directory."""

import os

import pytest

from appserver.errors import ConfigError
from appserver.static.paths import Mount, Mounts, NotFound, parse_mount, resolve


@pytest.fixture
def root(tmp_path):
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "css" / "app.css").write_text("body{}")
    (site / "a b.txt").write_text("space")
    (site / "é.txt").write_text("accent")
    (site / ".env").write_text("SECRET=1")
    (site / ".git").mkdir()
    (site / ".git" / "config").write_text("x")
    (site / "inside-link.css").symlink_to(site / "css" / "app.css")
    (tmp_path / "secret.txt").write_text("outside")
    (site / "outside-link.txt").symlink_to(tmp_path / "secret.txt")
    (site / "outside-dir").symlink_to(tmp_path)
    return site


def served(mount, rest):
    real, info = resolve(mount, rest)
    with open(real) as f:
        return f.read()


def test_plain_nested_and_encoded_names(root):
    mount = Mount("/static/", str(root))
    assert served(mount, "css/app.css") == "body{}"
    assert served(mount, "a%20b.txt") == "space"
    assert served(mount, "%C3%A9.txt") == "accent"


@pytest.mark.parametrize("rest", [
    "../secret.txt", "css/../../secret.txt", "%2e%2e/secret.txt", "%2E%2E/secret.txt",
    ".%2e/secret.txt", "css%2f..%2f..%2fsecret.txt", "css%2F%2E%2E%2F%2E%2E%2Fsecret.txt",
    "..%5csecret.txt", "css\\..\\..\\secret.txt", "css/app.css%00.png", "%00",
    "css/./app.css", "css//app.css", "/etc/passwd", "", "css", "css/",
    ".env", ".git/config", "%2eenv", "css/%ff.css", "missing.css",
    "outside-link.txt", "outside-dir/secret.txt",
])
def test_refused(root, rest):
    with pytest.raises(NotFound):
        resolve(Mount("/static/", str(root)), rest)


def test_symlinks_inside_are_followed(root):
    assert served(Mount("/static/", str(root)), "inside-link.css") == "body{}"


def test_symlinks_outside_only_when_allowed(root):
    mount = Mount("/static/", str(root), follow_symlinks=True)
    assert served(mount, "outside-link.txt") == "outside"
    assert served(mount, "outside-dir/secret.txt") == "outside"
    with pytest.raises(NotFound):
        resolve(mount, "../secret.txt")       # following links is not traversal


def test_root_reached_through_a_symlink(tmp_path, root):
    (tmp_path / "link-to-site").symlink_to(root)
    assert served(Mount("/s/", str(tmp_path / "link-to-site")), "css/app.css") == "body{}"


def test_a_device_is_not_a_file(tmp_path):
    (tmp_path / "null").symlink_to("/dev/null")
    with pytest.raises(NotFound):
        resolve(Mount("/s/", str(tmp_path), follow_symlinks=True), "null")


def test_parse_mount(tmp_path):
    mount = parse_mount("/static=staticfiles", base=str(tmp_path))
    assert mount.prefix == "/static/"
    assert mount.directory == os.path.join(str(tmp_path), "staticfiles")
    assert parse_mount("/media/=/srv/media").directory == "/srv/media"


@pytest.mark.parametrize("value", ["static=dir", "/static/", "/static/=", "=dir",
                                   "/st%61tic/=dir", "/s?x/=dir"])
def test_parse_mount_refuses(value):
    with pytest.raises(ConfigError) as info:
        parse_mount(value)
    assert "static" in str(info.value)


def test_longest_prefix_wins():
    mounts = Mounts([Mount("/static/", "/a"), Mount("/static/admin/", "/b")])
    mount, rest = mounts.match("/static/admin/x.css")
    assert (mount.directory, rest) == ("/b", "x.css")
    mount, rest = mounts.match("/static/app.css")
    assert (mount.directory, rest) == ("/a", "app.css")
    assert mounts.match("/staticfoo/x") is None
    assert mounts.match("/static") is None
    assert not Mounts([])


def test_siblings(root, tmp_path):
    from appserver.static.paths import resolve_sibling
    mount = Mount("/static/", str(root))
    (root / "css" / "app.css.gz").write_bytes(b"gz")
    (root / "css" / "app.css.br").symlink_to(root / "css" / "app.css.gz")
    (root / "css" / "app.css.zst").symlink_to(tmp_path / "secret.txt")
    (root / "css" / "app.css.d").mkdir()
    real, _ = resolve(mount, "css/app.css")
    segments = ["css", "app.css"]
    assert resolve_sibling(mount, segments, real, ".gz")[0] == str(root / "css" / "app.css.gz")
    assert resolve_sibling(mount, segments, real, ".br")[0] == str(root / "css" / "app.css.gz")
    for suffix in (".zst", ".d", ".missing"):       # outside, a directory, none
        with pytest.raises(NotFound):
            resolve_sibling(mount, segments, real, suffix)
    # through a symlink the full resolution applies to the sibling too
    real, _ = resolve(mount, "inside-link.css")
    (root / "inside-link.css.gz").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(NotFound):
        resolve_sibling(mount, ["inside-link.css"], real, ".gz")
    assert resolve_sibling(Mount("/s/", str(root), follow_symlinks=True), ["inside-link.css"],
                           real, ".gz")[0] == str(tmp_path / "secret.txt")
