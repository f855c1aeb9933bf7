"""systemd integration over real processes: socket activation with the real
``systemd-socket-activate``, the exact ``sd_notify`` sequence seen by a
``NOTIFY_SOCKET`` listener (path and abstract), the watchdog, ``MAINPID`` after
a USR2 upgrade, a notify socket that cannot take a message, and
``systemd-analyze verify`` of examples/systemd."""

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from appserver.deploy import systemd

from .files import SYSTEMD, unit_entries, unit_value
from tests.harness.clients import http_get
from tests.harness.notify import NotifyListener
from tests.harness.process import (
    APPSERVER, LISTENING_RE, Proc, app_env, free_port, short_tmpdir, wait_until
)
from tests.harness.procfs import descendants

SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate"
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
STATE_KEYS = ("READY", "RELOADING", "STOPPING", "MAINPID")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def procs():
    """Start ``Proc``s; each is stopped by pid when the test ends."""
    started = []

    def start(argv, **kw):
        proc = Proc(argv, **kw)
        started.append(proc)
        return proc.start()

    yield start
    for proc in reversed(started):
        proc.stop()
        shutil.rmtree(proc.tmpdir, ignore_errors=True)


@pytest.fixture(params=["path", "abstract"])
def notify(request):
    """A NOTIFY_SOCKET listener at a path or at an abstract @name."""
    tmp = short_tmpdir()
    if request.param == "path":
        address = str(tmp / "notify")
    else:
        address = "@appserver-test-%d-%s" % (os.getpid(), uuid.uuid4().hex)
    listener = NotifyListener(address)
    yield listener
    listener.close()
    shutil.rmtree(tmp, ignore_errors=True)


def serve(procs, *args, env=None, shell_prefix=None):
    """appserver with the deploy test app on a free loopback port."""
    argv = APPSERVER + ["deployapp", "--bind", "127.0.0.1:0", *args]
    if shell_prefix:
        argv = ["sh", "-c", shell_prefix + " exec \"$@\"", "sh"] + argv
    return procs(argv, env=app_env(**(env or {})))


def address_of(proc, after=0):
    url = proc.wait_for_log(LISTENING_RE, after=after).group(1)
    host, port = re.match(r"http://([\d.]+):(\d+)$", url).groups()
    return host, int(port)


def states(messages):
    """The state-changing messages, without STATUS-only and WATCHDOG ones."""
    return [m for m in messages if any(k in m.fields for k in STATE_KEYS)]


def monotonic_usec():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


# -- socket activation ----------------------------------------------------------

@pytest.mark.skipif(not os.access(SOCKET_ACTIVATE, os.X_OK),
                    reason="systemd-socket-activate is not installed")
def test_socket_activation_serves_tcp_and_unix_and_keeps_the_socket_file(procs):
    tmp = short_tmpdir()
    port, path = free_port(), str(tmp / "activated.sock")
    env = app_env()
    argv = [SOCKET_ACTIVATE, "-l", "127.0.0.1:%d" % port, "-l", path, "--fdname=web:local",
            "-E", "PYTHONPATH=" + env["PYTHONPATH"], "-E", "PYTHONUNBUFFERED=1",
            *APPSERVER, "deployapp", "--workers", "1"]
    proc = procs(argv, env=env, tmpdir=tmp)
    proc.wait_for_log(r"Listening on %s as 4" % re.escape(path))
    # The first connection makes systemd-socket-activate exec appserver, which
    # then serves it from the backlog.
    assert http_get(("127.0.0.1", port))[0] == 200
    log = proc.log()
    assert "Using 2 sockets from systemd (web, local)" in log
    assert "Listening at: http://127.0.0.1:%d (%d)" % (port, proc.pid) in log
    assert "Listening at: unix:%s (%d)" % (path, proc.pid) in log
    assert "127.0.0.1:8000" not in log
    status, body = http_get(path)
    assert status == 200 and body.startswith(b"pid ")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait_exit() == 0
    assert Path(path).exists(), "appserver removed the socket file systemd made"


# -- sd_notify --------------------------------------------------------------------

def test_notify_sequence_ready_reloading_ready_stopping(procs, notify):
    proc = serve(procs, "--workers", "2", env={"NOTIFY_SOCKET": notify.address})
    ready = notify.wait_for("READY")
    assert notify.messages[0] is ready and ready.pid == proc.pid
    assert ready.fields == {"READY": "1", "STATUS": "2 workers booted"}
    proc.wait_for_log(r"Ready: 2 workers booted")
    old_workers = [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", proc.log())]

    before = monotonic_usec()
    os.kill(proc.pid, signal.SIGHUP)
    reloading = notify.wait_for("RELOADING")
    after = monotonic_usec()
    assert reloading.fields["RELOADING"] == "1"
    assert before <= int(reloading.fields["MONOTONIC_USEC"]) <= after
    notify.wait_for("READY")
    log = proc.log()
    for pid in old_workers:      # READY=1 only once every worker was replaced
        assert "Worker %d exited" % pid in log
    assert len(re.findall(r"Booting worker with pid", log)) == 4

    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait_exit() == 0
    notify.wait_for("STOPPING", timeout=2)
    notify.drain(0.05)
    sequence = [sorted(k for k in m.fields if k in STATE_KEYS) for m in states(notify.messages)]
    assert sequence == [["READY"], ["RELOADING"], ["READY"], ["STOPPING"]]
    assert {m.pid for m in notify.messages} == {proc.pid}


# A hook the arbiter runs while it handles TTOU (2 workers wanted, then 1; the
# first worker boots alone): it opens the boot gate, waits until the arbiter's
# table shows that worker booted, and sends the arbiter TERM. So TERM is
# handled in the very turn that first sees the pool booted: the race a TERM
# during boot can lose, made certain.
TERM_AS_BOOTED = """
import os, signal, time
from appserver.arbiter import plan

def nworkers_changed(server, new, old):
    open(os.environ["BOOT_GATE"], "w").close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        table = server.pool.snapshot(time.monotonic())
        if plan.all_booted(table.workers, table.infos):
            break
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
"""


@pytest.mark.parametrize("delay", ["0", "1"])
def test_term_as_the_workers_boot_stops_without_saying_ready(procs, notify, delay):
    tmp = short_tmpdir()
    conf = tmp / "conf.py"
    conf.write_text(TERM_AS_BOOTED)
    proc = procs(APPSERVER + ["boot_gate", "--bind", "127.0.0.1:0", "--workers", "2",
                              "-c", conf, "--shutdown-delay", delay],
                 env=app_env(NOTIFY_SOCKET=notify.address,
                             BOOT_GATE=str(tmp / "gate")), tmpdir=tmp)
    proc.wait_for_log(r"Booting worker with pid")
    os.kill(proc.pid, signal.SIGTTOU)
    assert proc.wait_exit() == 0, proc.log()
    log = proc.log()
    assert "Received TERM" in log, log
    assert "Ready:" not in log[log.index("Received TERM"):], log
    notify.wait_for("STOPPING", timeout=2)
    notify.drain(0.05)
    keys = [k for m in states(notify.messages) for k in m.fields if k in STATE_KEYS]
    assert keys == ["STOPPING"], notify.messages


# A notify socket that cannot take a message: a send waits a bounded time,
# returns False and says what systemd missed.
@pytest.fixture
def full_socket():
    """A bound notify socket that nobody reads, its queue filled to the brim."""
    tmp = short_tmpdir()
    path = str(tmp / "notify")
    reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    reader.bind(path)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    for _ in range(100000):
        try:
            filler.sendto(b"STATUS=filler", path)
        except BlockingIOError:
            break
    else:
        pytest.fail("the notify socket's queue never filled")
    filler.close()
    yield path
    reader.close()
    shutil.rmtree(tmp, ignore_errors=True)


def test_a_send_to_a_full_queue_gives_up_and_says_what_was_lost(full_socket, monkeypatch,
                                                                caplog):
    monkeypatch.setattr(systemd, "SEND_TIMEOUT", 0.05)
    notifier = systemd.Notifier({"NOTIFY_SOCKET": full_socket})
    with caplog.at_level(logging.WARNING, logger="appserver"):
        assert notifier.send("READY=1", "STATUS=2 workers booted") is False
    notifier.close()
    assert "READY=1 STATUS=2 workers booted" in caplog.text
    assert full_socket in caplog.text


def test_a_missing_notify_socket_is_logged_not_ignored(tmp_path, caplog):
    notifier = systemd.Notifier({"NOTIFY_SOCKET": str(tmp_path / "absent")})
    with caplog.at_level(logging.WARNING, logger="appserver"):
        assert notifier.send("STOPPING=1") is False
    assert "STOPPING=1" in caplog.text and "absent" in caplog.text


def test_an_unread_notify_socket_does_not_stall_the_arbiter(procs, full_socket):
    """The arbiter's READY=1 cannot go: it logs so, serves, and stops on TERM."""
    proc = serve(procs, "--workers", "1", env={"NOTIFY_SOCKET": full_socket})
    proc.wait_for_log(r"sd_notify to NOTIFY_SOCKET=%s failed" % full_socket)
    assert http_get(address_of(proc))[0] == 200
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait_exit() == 0


def test_status_reports_busy_and_idle_workers(procs, notify):
    serve(procs, "--workers", "2", env={"NOTIFY_SOCKET": notify.address})
    notify.wait_for("READY")
    status = notify.wait_for("STATUS", value="0 busy, 2 idle workers", timeout=5)
    assert set(status.fields) == {"STATUS"}


def test_watchdog_pings_at_half_the_interval(procs, notify):
    proc = serve(procs, env={"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000"},
                 shell_prefix="WATCHDOG_PID=$$; export WATCHDOG_PID;")
    notify.wait_for("READY")
    pings = [notify.wait_for("WATCHDOG", timeout=2) for _ in range(4)]
    assert {p.pid for p in pings} == {proc.pid}
    gaps = [b.at - a.at for a, b in zip(pings, pings[1:])]
    assert all(gap < 1.0 for gap in gaps), gaps        # systemd would kill at 1 s


def test_no_watchdog_when_it_is_meant_for_another_pid(procs, notify):
    serve(procs, env={"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "200000",
                      "WATCHDOG_PID": str(os.getpid())})
    notify.wait_for("READY")
    later = notify.drain(1.0)            # five watchdog intervals
    assert not [m for m in notify.messages + later if "WATCHDOG" in m.fields]


def test_usr2_upgrade_reports_the_new_arbiter_as_mainpid(procs, notify):
    tmp = short_tmpdir()
    pidfile = tmp / "appserver.pid"
    proc = serve(procs, "--workers", "1", "--pid", pidfile,
                 env={"NOTIFY_SOCKET": notify.address})
    notify.wait_for("READY")
    address = address_of(proc)
    assert pidfile.read_text().strip() == str(proc.pid)

    os.kill(proc.pid, signal.SIGUSR2)
    handover = notify.wait_for("MAINPID")
    new = int(handover.fields["MAINPID"])
    proc.track_main(new)
    assert new != proc.pid and handover.pid == new
    assert handover.fields.get("READY") == "1"
    assert pidfile.read_text().strip() == str(new)
    assert proc.wait_exit() == 0                       # the old arbiter handed over
    status, body = http_get(address)
    assert status == 200
    assert int(body.split()[1]) in descendants(new)    # served by the new workers
    assert not [m for m in notify.messages if "STOPPING" in m.fields]

    os.kill(new, signal.SIGTERM)
    stopping = notify.wait_for("STOPPING")
    assert stopping.pid == new
    wait_until(lambda: not proc.alive(new), 15, "the new arbiter to exit")
    assert not pidfile.exists()


def test_watchdog_pings_continue_after_a_usr2_upgrade(procs, notify):
    proc = serve(procs, env={"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000"},
                 shell_prefix="WATCHDOG_PID=$$; export WATCHDOG_PID;")
    notify.wait_for("READY")
    os.kill(proc.pid, signal.SIGUSR2)
    new = int(notify.wait_for("MAINPID").fields["MAINPID"])
    proc.track_main(new)
    assert proc.wait_exit() == 0
    pings = [m for m in notify.drain(1.5) if "WATCHDOG" in m.fields]
    assert pings and {p.pid for p in pings} == {new}


# -- example units ------------------------------------------------------------------

def test_service_unit_runs_unprivileged_hardened_and_notifies():
    entries = unit_entries(SYSTEMD / "appserver.service")
    service = {k: v for s, k, v in entries if s == "Service"}
    # Type=notify-reload is systemd 253+; older systemd ignores it with a
    # warning and runs the unit as Type=simple (no readiness, no reload).
    assert service["Type"] == "notify"
    assert service["ExecReload"].split() == ["/bin/kill", "-s", "HUP", "$MAINPID"]
    assert service["NotifyAccess"] == "all"
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert service.get("DynamicUser") == "yes" or service.get("User") not in (None, "root", "0")
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                       ("PrivateDevices", "yes"), ("RestrictSUIDSGID", "yes")]:
        assert service[key] == value, key
    command = service["ExecStart"].split()
    assert Path(command[0]).name == "appserver"
    graceful = int(command[command.index("--graceful-timeout") + 1])
    assert int(service["TimeoutStopSec"]) > graceful
    assert int(service["WatchdogSec"]) > 0
    assert "--bind" not in command and "--daemon" not in command
    assert unit_value(entries, "Unit", "Requires") == "appserver.socket"


def test_socket_unit_listens_and_names_the_socket():
    entries = unit_entries(SYSTEMD / "appserver.socket")
    assert unit_value(entries, "Socket", "ListenStream") == "127.0.0.1:8000"
    assert unit_value(entries, "Socket", "FileDescriptorName") == "http"


def systemd_version():
    out = subprocess.run([SYSTEMD_ANALYZE, "--version"], capture_output=True, text=True).stdout
    return int(re.match(r"systemd (\d+)", out).group(1))


def test_example_units_pass_systemd_analyze_verify(tmp_path):
    complaints, code, _ = verify(tmp_path, (SYSTEMD / "appserver.service").read_text())
    assert complaints == [] and code == 0, complaints


def verify(tmp_path, service_text):
    """``systemd-analyze verify`` of the example socket and this service text
    (ExecStart pointing at this interpreter's appserver); its complaints."""
    if not os.access(SYSTEMD_ANALYZE, os.X_OK):
        pytest.skip("systemd-analyze is not installed")
    shutil.copy(SYSTEMD / "appserver.socket", tmp_path / "appserver.socket")
    binary = shutil.which("appserver") or os.path.join(os.path.dirname(sys.executable),
                                                        "appserver")
    service = tmp_path / "appserver.service"
    service.write_text(re.sub(r"^ExecStart=\S+", "ExecStart=" + binary, service_text,
                              flags=re.M))
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", "./appserver.socket", "./appserver.service"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return complaints, result.returncode, service


def docs_notify_reload_variant():
    """The unit as docs/deploy.md shows it for systemd 253+: its ini block
    with Type=notify-reload replaces the example's Type= and ExecReload=."""
    docs = (SYSTEMD.parent.parent / "docs" / "deploy.md").read_text()
    [block] = [b for b in re.findall(r"```ini\n(.*?)```", docs, re.S)
               if "Type=notify-reload" in b]
    lines = [line for line in (SYSTEMD / "appserver.service").read_text().splitlines()
             if not line.startswith(("Type=", "ExecReload="))]
    at = lines.index("[Service]") + 1
    return "\n".join(lines[:at] + block.strip().splitlines() + lines[at:]) + "\n"


def test_the_docs_notify_reload_variant_verifies_on_systemd_253_and_later(tmp_path):
    complaints, code, service = verify(tmp_path, docs_notify_reload_variant())
    if systemd_version() < 253:
        # What the example avoids: older systemd warns and runs Type=simple.
        assert complaints == ["%s:%d: Failed to parse service type, ignoring: notify-reload"
                              % (service, _line_of(service, "Type=notify-reload"))]
    else:
        assert complaints == [] and code == 0


def test_the_units_reload_command_reloads_and_notifies(procs, notify):
    entries = unit_entries(SYSTEMD / "appserver.service")
    proc = serve(procs, "--workers", "1", env={"NOTIFY_SOCKET": notify.address})
    notify.wait_for("READY")
    command = unit_value(entries, "Service", "ExecReload").replace("$MAINPID", str(proc.pid))
    subprocess.run(command.split(), check=True, timeout=10)
    assert notify.wait_for("RELOADING").pid == proc.pid
    assert "READY" in notify.wait_for("READY").fields


def _line_of(path, text):
    return Path(path).read_text().splitlines().index(text) + 1
