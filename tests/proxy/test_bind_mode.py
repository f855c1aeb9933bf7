"""Unix socket binds with --bind-mode and --bind-owner: the socket file is born
with the mode (whatever the umask) and gets the owner; TCP binds are left alone."""
import grp
import os
import pwd
import stat

import pytest

from appserver.net import sockets
from appserver.errors import ConfigError

from .conftest import get_json, http_connection

pytestmark = pytest.mark.timeout(60)


def test_bind_mode_and_owner_on_the_socket_file(serve, sock_dir):
    if os.getuid() != 0:
        pytest.skip("changing the owner needs root")
    path = sock_dir / "s.sock"
    user = pwd.getpwnam("nobody")
    group = grp.getgrgid(user.pw_gid)
    server = serve("--bind-mode", "660", "--bind-owner", "nobody:%s" % group.gr_name,
                   bind="unix:%s" % path)
    info = os.stat(path)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o660
    assert (info.st_uid, info.st_gid) == (user.pw_uid, user.pw_gid)
    assert get_json(http_connection(server), "/")["PATH_INFO"] == "/"


def test_bind_all_mode_is_exact_whatever_the_umask(tmp_path):
    old = os.umask(0o000)
    try:
        [listener] = sockets.bind_all([("unix", str(tmp_path / "a.sock"))], 8, mode="640")
        assert os.umask(0o000) == 0o000, "bind_all changed the process umask"
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.stat(tmp_path / "a.sock").st_mode) == 0o640
    finally:
        sockets.close_all([listener])


def test_bind_mode_leaves_tcp_alone_and_group_only_owner(tmp_path):
    gid = os.getgid()
    listeners = sockets.bind_all([("tcp", "127.0.0.1", 0), ("unix", str(tmp_path / "b.sock"))],
                                 8, mode="600", owner=":%d" % gid)
    try:
        info = os.stat(tmp_path / "b.sock")
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_gid == gid
        assert info.st_uid == os.getuid()
    finally:
        sockets.close_all(listeners)


@pytest.mark.parametrize("mode, owner, message", [
    ("888", None, "bind-mode: expected permissions in octal"),
    ("1777", None, "bind-mode: expected permissions in octal"),
    (None, "no-such-user-xyz", "bind-owner: no such user or group"),
    (None, ":no-such-group-xyz", "bind-owner: no such user or group"),
])
def test_bad_bind_mode_or_owner(tmp_path, mode, owner, message):
    with pytest.raises(ConfigError, match=message):
        sockets.bind_all([("unix", str(tmp_path / "c.sock"))], 8, mode=mode, owner=owner)
    assert not (tmp_path / "c.sock").exists()
