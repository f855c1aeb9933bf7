"""``--warmup``: new workers serve requests to themselves before they count as booted.

Covers, with a copy of the example Django project (Django imports the
URLconf and the views on the first request, not at ``wsgi.py`` import): a
HUP after ``def broken(:`` was written into ``views.py`` replaces every worker
when there is no warm-up, and every request then gets 500; with
``--warmup /`` the new workers fail their warm-up, the reload is reported as
failed, the old workers keep serving 200, and a HUP once the view is fixed
reloads. A start whose warm-up answers 500 stops with exit code 4 and says
why; a malformed ``--warmup`` value stops the start (and ``--check-config``)
with exit code 2 before anything is bound.
"""
import shutil
import signal
import subprocess
import sys

import pytest

from tests.harness.process import REPO_ROOT

DJANGO_DIR = REPO_ROOT / "examples" / "django"
NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}
BROKEN_VIEW = "\n\ndef broken(:\n    pass\n"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def project(tmp_path):
    pytest.importorskip("django")
    copy = tmp_path / "django"
    shutil.copytree(DJANGO_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def start(server_factory, project, *args):
    server = server_factory("myproj.wsgi", *args, cwd=project, pythonpath=[],
                            workers=2, env=NO_PYC)
    old = server.wait_for_workers(2)
    assert server.get("/").status == 200
    return server, old


def hup(server):
    mark = server.log_offset()
    server.signal(signal.SIGHUP)
    return mark


@pytest.mark.parametrize("warm", [False, True], ids=["no-warmup", "warmup"])
def test_hup_onto_a_broken_django_view(server_factory, project, warm):
    server, old = start(server_factory, project, *(["--warmup", "/"] if warm else []))
    views = project / "myproj" / "views.py"
    good = views.read_text()
    views.write_text(good + BROKEN_VIEW)
    mark = hup(server)
    if not warm:
        # What --warmup prevents: the reload succeeds and every request fails.
        server.wait_for_log(r"Reload complete: 2 workers", after=mark, timeout=20)
        assert not set(server.worker_pids()) & set(old)
        assert server.get("/").status == 500
        return
    server.wait_for_log(r"Reload failed: the new workers cannot load or warm up the "
                        r"application", after=mark, timeout=20)
    text = server.log()[mark:]
    assert "Worker failed to warm up: warm-up request GET / HTTP/1.1 raised" in text, text
    assert "SyntaxError" in text and "views.py" in text, text
    assert "Reload complete" not in text
    assert server.wait_for_workers(2) == old
    for _ in range(4):
        assert server.get("/").status == 200

    views.write_text(good)
    mark = hup(server)
    server.wait_for_log(r"Reload complete: 2 workers on the new code", after=mark,
                        timeout=20)
    assert not set(server.worker_pids()) & set(old)
    assert server.get("/").status == 200


def test_start_whose_warmup_answers_500_exits_4(server_factory, project):
    views = project / "myproj" / "views.py"
    views.write_text(views.read_text() + BROKEN_VIEW)
    server = server_factory("myproj.wsgi", "--warmup", "/", cwd=project, pythonpath=[],
                            workers=2, env=NO_PYC, start=False)
    server.start(wait=False)
    assert server.wait_exit(30) == 4, server.log()
    log = server.log()
    assert "Worker failed to warm up" in log
    assert "could not be loaded or warmed up" in log


@pytest.mark.parametrize("check", [False, True], ids=["start", "check-config"])
def test_malformed_warmup_value_exits_2_before_binding(tmp_path, check):
    proc = subprocess.run(
        [sys.executable, "-m", "appserver", "hello", "--warmup", "health",
         "--bind", "127.0.0.1:0"] + (["--check-config"] if check else []),
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
        env={"PYTHONPATH": "%s:%s" % (REPO_ROOT, REPO_ROOT / "tests" / "apps"),
             "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    output = proc.stdout + proc.stderr
    assert "warmup: 'health' is not a request path" in output
    assert "/PATH or http://HOST/PATH" in output
    assert "Listening at" not in output
