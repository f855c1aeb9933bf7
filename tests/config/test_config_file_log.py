"""Which config file a start loaded is never silent: like Gunicorn with
./gunicorn.conf.py, appserver loads ./appserver.conf.py by default, and the
start log (and --check-config) names the file and how it was found. The
examples directory holds no file that would be loaded unasked, so
examples/hello.py run from examples/ starts with the defaults."""

import shutil

import pytest

from server import REPO_ROOT, Server

pytestmark = pytest.mark.timeout(60)

EXAMPLES = REPO_ROOT / "examples"


def test_running_hello_from_examples_loads_no_config_file():
    assert not (EXAMPLES / "appserver.conf.py").exists()
    with Server("hello", cwd=EXAMPLES, pythonpath=[]) as server:
        assert server.get("/").status == 200
        log = server.log()
    assert "Config file" not in log
    assert "Admin listener" not in log


def test_a_config_file_in_the_current_directory_is_named_in_the_start_log(tmp_path):
    shutil.copy(EXAMPLES / "hello.py", tmp_path / "hello.py")
    (tmp_path / "appserver.conf.py").write_text("timeout = 12\n")
    with Server("hello", cwd=tmp_path, pythonpath=[]) as server:
        assert server.get("/").status == 200
        log = server.log()
    assert ("Config file: %s (found in the current directory; -c FILE to choose)"
            % (tmp_path / "appserver.conf.py")) in log


def test_a_config_file_given_with_c_is_named_too(tmp_path):
    conf = tmp_path / "prod.conf.py"
    conf.write_text("timeout = 12\n")
    with Server("hello", args=("-c", conf)) as server:
        log = server.log()
    assert "Config file: %s\n" % conf in log


def test_check_config_names_the_config_file(tmp_path):
    shutil.copy(EXAMPLES / "hello.py", tmp_path / "hello.py")
    (tmp_path / "appserver.conf.py").write_text("timeout = 12\n")
    server = Server("hello", args=("--check-config",), cwd=tmp_path, pythonpath=[])
    try:
        server.start(wait=False)
        assert server.wait_exit(30) == 0, server.log()
        assert server.stdout().rstrip().endswith(
            "config file: %s" % (tmp_path / "appserver.conf.py"))
    finally:
        server.cleanup()
