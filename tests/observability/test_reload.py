"""--reload over a real server: edits to the app's modules and extra files.

A changed module is picked up by new workers (graceful, HUP-style); a syntax
error in the new code is logged and the running worker keeps serving the old
code; fixing it reloads again; a file matching --reload-extra-file also
reloads. Unit checks of the watcher: stdlib and appserver are not watched.
"""
import os
import time

from appserver.app import devreload
from tests.harness.process import wait_until

APP = '''
import helper
def application(environ, start_response):
    body = helper.MESSAGE.encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
'''


def write(path, text):
    path.write_text(text)
    future = time.time_ns() + 2_000_000_000
    os.utime(path, ns=(future, future))      # a distinct mtime, even within a tick


def serves(srv, text, timeout=20):
    wait_until(lambda: srv.get("/").body == text.encode(), timeout,
               "%r to be served\n%s" % (text, srv.log()))


def test_module_change_reloads_and_bad_code_keeps_old_workers(obs_server, tmp_path):
    (tmp_path / "reload_app.py").write_text(APP)
    helper = tmp_path / "helper.py"
    helper.write_text("MESSAGE = 'v1'\n")
    srv = obs_server("--reload", app="reload_app", pythonpath=[tmp_path], cwd=tmp_path)
    assert srv.get("/").body == b"v1"
    [first] = srv.worker_pids()

    write(helper, "MESSAGE = 'v2'\n")
    serves(srv, "v2")
    srv.wait_for_log(r"Reload: .*helper\.py changed")
    [second] = srv.wait_for_workers(1, exclude=[first], timeout=20)

    mark = srv.log_offset()
    write(helper, "MESSAGE = 'v3\n")                        # a syntax error
    srv.wait_for_log(r"Reload failed: the new workers cannot load or warm up the application",
                     after=mark, timeout=20)
    assert "SyntaxError" in srv.log()[mark:]
    assert srv.get("/").body == b"v2"
    assert srv.worker_pids() == [second]

    write(helper, "MESSAGE = 'v3'\n")
    serves(srv, "v3")


def test_extra_file_glob_reloads(obs_server, tmp_path):
    (tmp_path / "reload_app.py").write_text(APP)
    (tmp_path / "helper.py").write_text("MESSAGE = 'same'\n")
    (tmp_path / "templates").mkdir()
    srv = obs_server("--reload", "--reload-extra-file", "templates/*.html",
                     app="reload_app", pythonpath=[tmp_path], cwd=tmp_path)
    [first] = srv.worker_pids()
    write(tmp_path / "templates" / "new.html", "<p>")
    srv.wait_for_log(r"Reload: .*new\.html changed", timeout=20)
    srv.wait_for_workers(1, exclude=[first], timeout=20)
    assert srv.get("/").body == b"same"


def test_watcher_reports_a_change_once(tmp_path):
    path = tmp_path / "data.cfg"
    path.write_text("a")
    calls = []
    watcher = devreload.Watcher([str(tmp_path / "*.cfg")], lambda: calls.append(1))
    assert watcher.check(0.0) is False
    write(path, "b")
    assert watcher.check(0.5) is False           # at most once a second
    assert watcher.check(1.0) is True and calls == [1]
    assert watcher.check(2.0) is False and calls == [1]


def test_stdlib_and_appserver_are_not_watched():
    import json
    import appserver.worker.process
    files = devreload.module_files()
    assert json.__file__ not in files
    assert os.path.abspath(appserver.worker.process.__file__) not in files
    assert os.path.abspath(devreload.__file__) not in files
    assert os.path.abspath(__file__) in files
