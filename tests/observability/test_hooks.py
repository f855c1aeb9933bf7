"""Server hooks from a Python config file, over real processes, plus config checks.

Every hook runs in the documented process with its documented arguments; a
failing hook is logged and the server carries on, except on_starting (the
start fails) and post_worker_init (the worker does not boot); a misspelled
hook or a hook with the wrong arguments is a config error naming it.
"""
import signal

import pytest

from appserver.config import hooks, loading
from appserver.errors import ConfigError
from tests.harness.process import wait_until
from tests.observability.conftest import OBS_APPS

CONF = str(OBS_APPS / "hooks_conf.py")


def records(srv):
    return [line.split() for line in srv.records("hooks.log")]


def named(srv, name):
    return [r for r in records(srv) if r[0] == name]


def test_hooks_run_in_their_process_with_their_arguments(obs_server):
    srv = obs_server("-c", CONF)
    arbiter = str(srv.pid)
    [worker] = [str(p) for p in srv.worker_pids()]
    wait_until(lambda: named(srv, "when_ready"), 10, "when_ready")
    assert named(srv, "on_starting") == [["on_starting", arbiter, "ServerView"]]
    assert named(srv, "pre_fork") == [["pre_fork", arbiter, "[booting]", "0"]]
    assert named(srv, "post_fork") == [["post_fork", worker, worker, "1"]]
    assert named(srv, "post_worker_init") == [["post_worker_init", worker, "True"]]
    # As Gunicorn: once bound, before the first worker is forked.
    assert named(srv, "when_ready") == [["when_ready", arbiter, "0"]]
    order = [r[0] for r in records(srv)]
    assert order.index("when_ready") < order.index("pre_fork")

    assert srv.get("/status/201?x=1").status == 201
    assert named(srv, "pre_request") == [["pre_request", worker, "GET", "/status/201"]]
    [post] = wait_until(lambda: named(srv, "post_request"), 10, "post_request")
    assert post[:4] == ["post_request", worker, "/status/201", "201"]

    srv.signal(signal.SIGTTIN)
    wait_until(lambda: named(srv, "nworkers_changed"), 10, "nworkers_changed")
    assert named(srv, "nworkers_changed") == [["nworkers_changed", arbiter, "2", "1"]]
    srv.wait_for_workers(2)

    assert srv.get("/sleep?s=30", timeout=20).status == 504
    wait_until(lambda: named(srv, "worker_abort"), 10, "worker_abort")
    aborted = named(srv, "worker_abort")[0][1]
    wait_until(lambda: ["child_exit", arbiter, aborted] in records(srv), 10, "child_exit")
    assert ["worker_exit", aborted, aborted, "ServerView"] in records(srv)

    srv.wait_for_workers(2)
    mark = srv.log_offset()
    srv.signal(signal.SIGHUP)               # back to the configured 1 worker
    wait_until(lambda: named(srv, "on_reload"), 10, "on_reload")
    wait_until(lambda: len(named(srv, "nworkers_changed")) == 2, 10, "2 -> 1")
    assert named(srv, "nworkers_changed")[1] == ["nworkers_changed", arbiter, "1", "2"]
    # One worker alive is no sign the reload is over: the oldest is stopped
    # as a surplus before its replacement is forked, so for a moment only the
    # other old worker runs. Only once both old ones are reaped and the new
    # one booted does QUIT reach exactly one worker.
    srv.wait_for_log(r"Reload complete: 1 worker", after=mark, timeout=20)
    srv.wait_for_workers(1)

    srv.signal(signal.SIGQUIT)
    srv.wait_exit(20)
    assert named(srv, "on_exit") == [["on_exit", arbiter]]
    assert len(named(srv, "worker_int")) == 1
    assert all(r[1] != arbiter for r in named(srv, "worker_int"))


def test_a_failing_hook_is_logged_not_fatal(obs_server):
    srv = obs_server("-c", CONF)
    resp = srv.get("/fail-hook")
    assert resp.status == 200 and resp.body == b"hello\n"
    srv.wait_for_log(r"Hook post_request failed \(ignored\)\n"
                     r"Traceback(?:.*\n)*RuntimeError: boom in post_request")
    assert srv.get("/").status == 200


def test_failing_on_starting_stops_the_start(obs_server, tmp_path):
    conf = tmp_path / "c.py"
    conf.write_text("def on_starting(server):\n    raise ValueError('not today')\n")
    srv = obs_server("-c", conf, start=False)
    srv.start(wait=False)
    assert srv.wait_exit(20) == 1
    assert "Error: hook on_starting failed: ValueError: not today" in srv.log()


def test_failing_post_worker_init_is_a_boot_failure(obs_server, tmp_path):
    conf = tmp_path / "c.py"
    conf.write_text("def post_worker_init(worker):\n    raise ValueError('cold')\n"
                    "max_boot_failures = 2\n")
    srv = obs_server("-c", conf, start=False)
    srv.start(wait=False)
    assert srv.wait_exit(30) == 3
    assert srv.log().count("Hook post_worker_init failed") == 2


@pytest.mark.parametrize("source, message", [
    ("def post_fok(server, worker):\n    pass\n",
     "defines post_fok(), which is no server hook; did you mean post_fork?"),
    ("def when_ready():\n    pass\n", "hook when_ready cannot be called as when_ready(server)"),
    ("on_exit = 3\n", "hook on_exit must be a function"),
])
def test_hook_mistakes_are_config_errors(tmp_path, source, message):
    (tmp_path / "appserver.conf.py").write_text(source)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        loading.load("x", {}, {}, str(tmp_path))


def test_helpers_and_imports_are_not_hooks(tmp_path):
    (tmp_path / "appserver.conf.py").write_text(
        "from os.path import join\nimport os\n"
        "def _pre_forkk(): pass\ndef make_name(): return 'x'\n"
        "def when_ready(server, *rest): pass\nworkers = 2\n")
    cfg = loading.load("x", {}, {}, str(tmp_path))
    assert set(cfg.hooks) == {"when_ready"} and cfg.workers == 2


def test_call_logs_and_swallows(caplog):
    def bad(server):
        raise KeyError("k")
    assert hooks.call({"on_exit": bad}, "on_exit", None) is None
    assert "Hook on_exit failed (ignored)" in caplog.text
    assert hooks.call({}, "on_exit", None) is None
    with pytest.raises(hooks.HookFailed, match="hook on_starting failed: KeyError"):
        hooks.call_strict({"on_starting": bad}, "on_starting", None)


def test_example_config_loads_and_serves(obs_server):
    example = OBS_APPS.parent.parent.parent / "examples" / "observability.conf.py"
    cfg = loading.load("x", {"config": str(example)}, {})
    assert set(cfg.hooks) == set(hooks.HOOKS) - {"ssl_context"}   # TLS only
    srv = obs_server("-c", example, "--admin-bind", "127.0.0.1:0", workers=1)
    resp = srv.get("/")
    assert resp.status == 200 and len(resp.header("X-Request-ID")) == 32
    wait_until(lambda: '"status": 200' in srv.stdout(), 10, "a JSON access line")
    srv.stop()
    assert "appserver stopped after" in srv.stdout()


def test_a_worker_that_cannot_start_says_why(obs_server):
    srv = obs_server("-c", str(OBS_APPS / "hooks_exit_conf.py"), start=False)
    srv.start(wait=False)
    srv.wait_for_log(r"Worker \d+ could not start\nTraceback")
    srv.wait_for_log(r"raise SystemExit\(5\)")
