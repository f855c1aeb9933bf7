"""What a HUP tells systemd, and what workers inherit from it, over real processes.

Covers, under the real ``systemd-socket-activate`` with a ``NOTIFY_SOCKET``
listener: a HUP that replaces every worker ends with ``READY=1`` and
``STATUS=reloaded: N workers on the new code in X s``, sent after every old
worker exited, and the log says ``Reload complete: ...``; a HUP whose new
configuration is invalid, and one whose new app cannot be imported, end
with ``READY=1`` and a ``STATUS=reload failed: WHY; the previous workers
keep serving`` (the log says it too), as does one whose new workers keep
dying while booting (after ``--max-boot-failures``); meanwhile the old
workers go on serving, and a HUP after the app was fixed reloads. Workers
never see ``NOTIFY_SOCKET`` or ``WATCHDOG_*`` (app code could otherwise speak
for the service), while the arbiter still notifies and feeds the watchdog.
"""
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from tests.harness.clients import http_get
from tests.harness.notify import NotifyListener
from tests.harness.process import APPSERVER, Proc, REPO_ROOT, app_env, free_port, short_tmpdir

SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate"
TEST_APPS = Path(__file__).resolve().parent.parent / "apps"

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not os.access(SOCKET_ACTIVATE, os.X_OK),
                       reason="systemd-socket-activate is not installed"),
]

RELOADABLE = '''\
"""Written by test_sv_systemd: answers its pid; /version: {version}."""
import os
{broken}

def application(environ, start_response):
    body = b"{version}" if environ["PATH_INFO"] == "/version" else b"%d" % os.getpid()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
'''


BREAKAGES = {
    "raises": 'raise RuntimeError("broken on purpose")',
    "dies": "os._exit(1)",          # a crash while booting, retried with backoff
}


def write_app(path, version, broken=None):
    path.write_text(RELOADABLE.format(version=version, broken=BREAKAGES.get(broken, "")))


@pytest.fixture
def tmp():
    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def notify(tmp):
    listener = NotifyListener(str(tmp / "notify"))
    yield listener
    listener.close()


@pytest.fixture
def activated(tmp, notify):
    """Start appserver under systemd-socket-activate; stopped by pid at the end."""
    started = []

    def start(app, *args):
        port = free_port()
        path = os.pathsep.join([str(REPO_ROOT), str(TEST_APPS), str(tmp)])
        argv = [SOCKET_ACTIVATE, "-l", "127.0.0.1:%d" % port,
                "-E", "PYTHONPATH=" + path, "-E", "PYTHONUNBUFFERED=1",
                "-E", "PYTHONDONTWRITEBYTECODE=1", "-E", "NOTIFY_SOCKET=" + notify.address,
                *APPSERVER, app, "--workers", "2", *[str(a) for a in args]]
        proc = Proc(argv, env=app_env(), tmpdir=tmp)
        started.append(proc)
        proc.start()
        proc.wait_for_log(r"Listening on 127\.0\.0\.1:%d" % port)
        address = ("127.0.0.1", port)
        assert http_get(address)[0] == 200         # makes it exec appserver
        ready = notify.wait_for("READY")
        assert ready.pid == proc.pid
        proc.wait_for_log(r"Ready: 2 workers booted")
        return proc, address

    yield start
    for proc in started:
        proc.stop()


def booted_pids(text):
    return [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", text)]


def hup(proc, notify):
    """HUP; the READY=1 that ends the reload (``wait_for`` only looks at
    messages received from now on), and the log offset before the HUP."""
    mark = len(proc.log())
    os.kill(proc.pid, signal.SIGHUP)
    reloading = notify.wait_for("RELOADING")
    assert reloading.pid == proc.pid
    return notify.wait_for("READY"), mark


def test_successful_hup_reports_reloaded_after_every_old_worker_exited(activated,
                                                                       notify):
    proc, address = activated("sv_app")
    old = booted_pids(proc.log())
    ready, mark = hup(proc, notify)
    status = ready.fields.get("STATUS", "")
    assert re.fullmatch(r"reloaded: 2 workers on the new code in [\d.]+ s", status), \
        ready.fields
    assert ready.pid == proc.pid
    text = proc.log()[mark:]
    line = re.search(r"Reload complete: 2 workers on the new code in ([\d.]+) s", text)
    assert line, text
    for pid in old:
        assert text.index("Worker %d exited" % pid) < line.start(), text
    new = booted_pids(text)
    assert len(new) == 2 and not set(new) & set(old)
    assert int(http_get(address)[1].split()[0]) in new


def test_hup_with_invalid_config_reports_the_failure_and_keeps_serving(activated,
                                                                      notify, tmp):
    conf = tmp / "conf.py"
    conf.write_text("timeout = 20\n")
    proc, address = activated("sv_app", "-c", conf)
    old = booted_pids(proc.log())
    conf.write_text("workers = (\n")
    ready, mark = hup(proc, notify)
    status = ready.fields.get("STATUS", "")
    assert status.startswith("reload failed: ") and str(conf) in status, ready.fields
    assert status.endswith("; the previous workers keep serving"), ready.fields
    assert "\n" not in status
    assert "Reload failed, keeping the running configuration" in proc.log()[mark:]
    assert int(http_get(address)[1].split()[0]) in old


@pytest.mark.parametrize("broken", sorted(BREAKAGES))
def test_hup_with_broken_app_reports_the_failure_then_a_fixed_one_reloads(activated,
                                                                         notify, tmp,
                                                                         broken):
    app = tmp / "sd_reloadable.py"
    write_app(app, "v1")
    proc, address = activated("sd_reloadable", "--max-boot-failures", "2")
    old = booted_pids(proc.log())
    write_app(app, "v2", broken=broken)
    ready, mark = hup(proc, notify)
    status = ready.fields.get("STATUS", "")
    if broken == "raises":
        assert status == (
            "reload failed: the new workers cannot load or warm up the application "
            "(see the log); the previous workers keep serving"), ready.fields
        assert "broken on purpose" in proc.log()[mark:]
    else:
        assert re.fullmatch(r"reload failed: 2 new workers in a row died while booting "
                            r"\(last: worker \d+ exited with code 1\); the previous "
                            r"workers keep serving", status), ready.fields
    assert "Reload failed" in proc.log()[mark:]
    assert http_get(address, "/version")[1] == b"v1"
    assert int(http_get(address)[1]) in old

    write_app(app, "v3")
    ready, mark = hup(proc, notify)
    assert ready.fields.get("STATUS", "").startswith("reloaded: 2 workers"), ready.fields
    assert http_get(address, "/version")[1] == b"v3"


def test_workers_do_not_inherit_notify_socket_or_watchdog(tmp, notify):
    env = app_env(NOTIFY_SOCKET=notify.address, WATCHDOG_USEC="2000000",
                  PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(TEST_APPS)]))
    proc = Proc(APPSERVER + ["sv_app", "--bind", "127.0.0.1:0", "--workers", "2"],
                env=env, tmpdir=tmp)
    try:
        proc.start()
        url = proc.wait_for_log(r"Listening at: http://127\.0\.0\.1:(\d+)")
        address = ("127.0.0.1", int(url.group(1)))
        assert notify.wait_for("READY").pid == proc.pid
        assert notify.wait_for("WATCHDOG").pid == proc.pid    # the arbiter keeps them
        for _ in range(4):
            status, body = http_get(address, "/env")
            assert (status, body) == (200, b"-")
    finally:
        proc.stop()
