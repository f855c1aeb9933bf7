"""A Gunicorn deployment's config file, unchanged: ``appserver -c
gunicorn.conf.py myproj.wsgi`` starts with it and serves the Django example.
"""
import os

import pytest

from tests.harness.process import REPO_ROOT, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "gunicorn.conf.py")
DJANGO_DIR = REPO_ROOT / "examples" / "django"


def test_gunicorn_conf_serves_django(server_factory):
    pytest.importorskip("django")
    srv = server_factory("myproj.wsgi", "-c", CONF, cwd=DJANGO_DIR, pythonpath=[],
                         workers=None)
    resp = srv.get("/")
    assert resp.status == 200, resp.body[:2000]
    assert b"<h1>Django on appserver</h1>" in resp.body
    assert len(srv.worker_pids()) == 2                      # workers = 2
    log = srv.log()
    notices = [line for line in log.splitlines() if "has no effect" in line]
    assert [line.split("] ", 3)[3].split(" ", 1)[0] for line in notices] == [
        "worker_tmp_dir", "tmp_upload_dir",
        "capture_output"], log
    assert any("worker_tmp_dir" in line and "shared memory" in line for line in notices)
    assert log.count("Worker spawned (pid: ") == 2, log
    assert "[ERROR]" not in log and "Traceback" not in log
    pid = (srv.tmpdir / "gunicorn.pid").read_text().strip()
    assert int(pid) == srv.pid
    assert '"GET / HTTP/1.1" 200' in _wait_stdout(srv)


def _wait_stdout(srv):
    wait_until(lambda: '"GET / HTTP/1.1"' in srv.stdout(), 10, srv.stdout)
    return srv.stdout()
