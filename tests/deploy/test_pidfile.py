"""Unit tests for appserver.deploy.pidfile: the live-server check, atomic
write, and removal only if still ours."""
import os
import subprocess
import sys

import pytest

from appserver.deploy import pidfile
from appserver.errors import ConfigError


def test_write_creates_file_with_pid_and_newline(tmp_path):
    path = tmp_path / "app.pid"
    pidfile.write(str(path), 4321)
    assert path.read_text() == "4321\n"


def test_write_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "app.pid"
    pidfile.write(str(path), 4321)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.pid"]


def test_write_replaces_an_existing_file_atomically(tmp_path):
    path = tmp_path / "app.pid"
    path.write_text("999\n")
    old_inode = os.stat(path).st_ino
    pidfile.write(str(path), 1000)
    assert path.read_text() == "1000\n"
    # a rename, not an in-place rewrite: readers never see a half-written file
    assert os.stat(path).st_ino != old_inode


def test_remove_deletes_our_own_file(tmp_path):
    path = tmp_path / "app.pid"
    pidfile.write(str(path), 55)
    pidfile.remove(str(path), 55)
    assert not path.exists()


def test_remove_keeps_a_file_another_process_wrote(tmp_path):
    path = tmp_path / "app.pid"
    pidfile.write(str(path), 55)
    pidfile.write(str(path), 66)           # e.g. the new arbiter after an upgrade
    pidfile.remove(str(path), 55)
    assert path.read_text() == "66\n"


def test_remove_ignores_a_missing_file_and_garbage(tmp_path):
    path = tmp_path / "app.pid"
    pidfile.remove(str(path), 55)          # no exception
    path.write_text("not a pid")
    pidfile.remove(str(path), 55)
    assert path.read_text() == "not a pid"


def test_remove_ignores_a_path_that_is_a_directory(tmp_path):
    pidfile.remove(str(tmp_path), 55)      # no exception
    assert tmp_path.is_dir()


def test_check_refuses_a_file_naming_a_running_process(tmp_path):
    path = tmp_path / "app.pid"
    path.write_text("%d\n" % os.getppid())
    with pytest.raises(ConfigError) as info:
        pidfile.check(str(path))
    assert "which is running" in str(info.value) and "--pid" in str(info.value)


def test_check_ignores_a_stale_own_missing_or_garbled_file(tmp_path):
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    path = tmp_path / "app.pid"
    for text in (child.stdout, "%d\n" % os.getpid(), "", "not a pid\n"):
        path.write_text(text)
        pidfile.check(str(path))            # the child has exited and been reaped
    pidfile.check(str(tmp_path / "missing.pid"))
    pidfile.check(None)
