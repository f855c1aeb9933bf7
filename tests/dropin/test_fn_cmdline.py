"""Gunicorn command lines, for real: GUNICORN_CMD_ARGS / APPSERVER_CMD_ARGS,
Gunicorn's flags (-k sync, --worker-tmp-dir) and every bind form."""
import socket

import pytest


def test_gunicorn_cmd_args_are_read_with_one_notice(server_factory):
    srv = server_factory("hello", workers=None, env={
        "GUNICORN_CMD_ARGS": "--workers 2 -k sync --threads 1 --worker-tmp-dir /dev/shm"})
    assert srv.get("/").status == 200
    assert len(srv.worker_pids()) == 2
    log = srv.log()
    assert log.count("Reading options from GUNICORN_CMD_ARGS: --workers 2 "
                     "--worker-class sync --threads 1 --worker-tmp-dir /dev/shm") == 1, log
    assert log.count("worker_tmp_dir (Gunicorn's setting, from --worker-tmp-dir in "
                     "GUNICORN_CMD_ARGS) has no effect: heartbeats go to shared "
                     "memory") == 1, log


def test_appserver_cmd_args_lose_to_the_command_line(server_factory):
    srv = server_factory("hello", "--workers", "1", workers=None, env={
        "APPSERVER_CMD_ARGS": "--workers 3 --name fromenv",
        "GUNICORN_CMD_ARGS": "--name fromgunicorn"})
    assert srv.get("/").status == 200
    assert len(srv.worker_pids()) == 1
    title = open("/proc/%d/cmdline" % srv.pid, "rb").read()
    assert b"fromenv" in title and b"fromgunicorn" not in title


@pytest.mark.parametrize("bind, host", [
    ("tcp://127.0.0.1:0", "127.0.0.1"),
    (":0", "0.0.0.0"),
    ("0.0.0.0:0", "0.0.0.0"),
])
def test_gunicorn_tcp_bind_forms(server_factory, bind, host):
    srv = server_factory("hello", bind=bind)
    assert srv.address[0] == host
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 200 ")


def test_gunicorn_unix_bind_form(server_factory, tmp_path):
    path = tmp_path / "g.sock"
    srv = server_factory("hello", bind="unix://%s" % path)
    assert srv.address == str(path)
    assert srv.get("/").status == 200


def test_click_parses_apart_and_never_loads_in_the_arbiter_or_workers(server_factory,
                                                                       tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text(
        "import sys\n"
        "def on_starting(server):\n"
        "    server.log.info('arbiter has click: %s', 'click' in sys.modules)\n"
        "def post_worker_init(worker):\n"
        "    worker.log.info('worker has click: %s', 'click' in sys.modules)\n")
    # a joined short flag: a command line plain_args leaves to the parser process
    srv = server_factory("hello", "-c", str(conf), "-napart")
    srv.wait_for_log(r"worker has click: False")
    assert "arbiter has click: False" in srv.log()
    assert srv.get("/").status == 200
