"""appserver.static.from_settings: the static* settings make a worker's
StaticFiles, or stop the start with a message that says what to do."""
import pytest

from appserver.errors import ConfigError
from appserver.static import from_settings


class Cfg:
    def __init__(self, static, max_age=60, follow=False, fallback=False):
        self.static, self.static_max_age = static, max_age
        self.static_follow_symlinks, self.static_fallback = follow, fallback

    def source(self, name):
        return "command line"


def test_no_mounts_no_static():
    assert from_settings(Cfg(())) is None


def test_mounts(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    static = from_settings(Cfg(("/static/=%s/a" % tmp_path, "/media=%s/b" % tmp_path),
                               max_age=5, follow=True, fallback=True))
    assert static.claims("/static/x") and static.claims("/media/y")
    assert not static.claims("/mediax")
    assert static.cache_control == b"public, max-age=5" and static.fallback
    assert all(m.follow_symlinks for m in static.mounts.mounts)


def test_a_missing_directory_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as info:
        from_settings(Cfg(("/static/=%s/nope" % tmp_path,)))
    assert "collectstatic" in str(info.value) and "command line" in str(info.value)


def test_a_prefix_given_twice(tmp_path):
    with pytest.raises(ConfigError) as info:
        from_settings(Cfg(("/s/=%s" % tmp_path, "/s=%s" % tmp_path)))
    assert "twice" in str(info.value)
