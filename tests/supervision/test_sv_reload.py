"""HUP under load: reloads replace every worker and drop no request.

Covers: five HUPs in a row under a steady stream of requests (new
connection per request, and keep-alive) replace every worker pid each time,
each old worker stopped only after a new one was forked, with 0 failed
requests; with ``-w 8`` and an app that takes 0.3 s to load, a HUP boots
new workers in parallel batches (two forked before any old one is
stopped), never stops more old workers than new ones were forked, drops no
request, and logs ``Reload complete: 8 workers ...``; with ``-w 8`` and a
broken app, the first failure abandons the reload and stops the rest of the
batch (no old worker is stopped as a surplus, nothing is respawned); a HUP
after the app became broken (raises at import), with and
without --preload, logs the error and the old workers keep serving, and a
HUP once it is fixed loads the new code; a HUP after the app started to
kill its process at import: the replacements are respawned with backoff,
the reload is abandoned after --max-boot-failures with an error, and the
old workers keep serving; a HUP with a broken config file
(syntax error, unknown setting) logs the error and changes nothing, and a
HUP with a valid changed config applies it.
"""
import os
import re
import signal
import time

import pytest

from tests.harness.load import Load
from tests.harness.process import APPS_DIR, BOOTING_RE
from tests.supervision.sv_load import log_pids

NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}


def _hup_and_wait(server, old, timeout=10.0):
    """HUP, then wait until every pid of ``old`` was stopped for the reload
    and only new workers are left; returns (new pids, log text of the reload)."""
    mark = server.log_offset()
    server.signal(signal.SIGHUP)
    for pid in old:
        server.wait_for_log(r"Stopping worker %d gracefully: reload" % pid,
                            timeout=timeout, after=mark)
    new = server.wait_for_workers(len(old), timeout=timeout, exclude=old)
    return new, server.log()[mark:]


@pytest.mark.timeout(45)
@pytest.mark.parametrize("keepalive", [False, True], ids=["new-conn", "keep-alive"])
def test_hup_five_times_replaces_all_workers_with_no_failed_request(server_factory,
                                                                   keepalive):
    server = server_factory("sv_app", workers=2)
    original = server.wait_for_workers(2)
    generations = [original]
    with Load(server, threads=4, keepalive=keepalive, duration=30) as load:
        load.wait_for_ok(50)
        started = time.monotonic()
        for _ in range(5):
            old = generations[-1]
            new, text = _hup_and_wait(server, old)
            booted = [int(m.group("pid")) for m in BOOTING_RE.finditer(text)]
            assert set(new) <= set(booted), (new, booted)
            # Each old worker is stopped only after a replacement was forked.
            for pid in old:
                stop_at = text.index("Stopping worker %d gracefully: reload" % pid)
                assert BOOTING_RE.search(text[:stop_at]), text
            generations.append(new)
            load.wait_for_ok(100)           # the new generation serves
        hup_seconds = time.monotonic() - started
    assert load.failed == 0, load.summary()
    assert hup_seconds < 20, hup_seconds
    every = [pid for gen in generations for pid in gen]
    assert len(set(every)) == len(every) == 12, generations
    assert not set(server.worker_pids()) & set(original)
    served = {pid for pid, _ in load.served_by}
    assert served & set(generations[-1]), (generations, load.served_by)
    assert served <= set(every), (served, generations)
    server.assert_log_clean()


@pytest.mark.timeout(60)
def test_hup_of_eight_workers_boots_new_ones_in_parallel_batches_first(server_factory):
    server = server_factory("sv_app", workers=8, env={"SV_BOOT_SECONDS": "0.3"})
    old = server.wait_for_workers(8)
    with Load(server, threads=4, duration=30) as load:
        load.wait_for_ok(50)
        new, text = _hup_and_wait(server, old, timeout=30)
        done = server.wait_for_log(r"Reload complete: 8 workers on the new code in "
                                   r"([\d.]+) s", timeout=30)
        load.wait_for_ok(50)
    assert load.failed == 0, load.summary()
    assert len(set(new)) == 8 and not set(new) & set(old)
    events = [("fork", int(m.group(1))) if m.group(1) else ("stop", int(m.group(2)))
              for m in re.finditer(r"Booting worker with pid: (\d+)|"
                                   r"Stopping worker (\d+) gracefully: reload", text)]
    assert [kind for kind, _ in events[:2]] == ["fork", "fork"], events
    forked = stopped = 0
    for kind, _pid in events:
        forked += kind == "fork"
        stopped += kind == "stop"
        assert stopped <= forked, ("an old worker stopped before its replacement "
                                   "was forked", events)
    assert stopped == 8 and forked == 8, events
    print("reload of 8 workers (0.3 s boot each): %s s" % done.group(1))


RELOADABLE = '''\
"""Written by test_sv_reload: answers "<pid> <ppid>"; /version: {version}."""
import os
{broken}

def application(environ, start_response):
    if environ["PATH_INFO"] == "/version":
        body = b"{version}"
    else:
        body = b"%d %d" % (os.getpid(), os.getppid())
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def _write_app(path, version, broken=False):
    raise_line = ('raise RuntimeError("sv_reloadable broken on purpose")'
                  if broken else "")
    path.write_text(RELOADABLE.format(version=version, broken=raise_line))


@pytest.mark.timeout(45)
@pytest.mark.parametrize("preload", [False, True], ids=["fork-loads", "preload"])
def test_hup_with_broken_app_keeps_old_workers_serving(server_factory, tmp_path,
                                                      preload):
    app = tmp_path / "sv_reloadable.py"
    _write_app(app, "v1")
    server = server_factory("sv_reloadable", *(["--preload"] if preload else []),
                            workers=2, pythonpath=[tmp_path, APPS_DIR], env=NO_PYC)
    original = server.wait_for_workers(2)
    with Load(server, threads=4, duration=30) as load:
        load.wait_for_ok(50)
        _write_app(app, "v2-broken", broken=True)
        mark = server.log_offset()
        server.signal(signal.SIGHUP)
        server.wait_for_log(r"Reload failed", after=mark)
        text = server.log()[mark:]
        assert "sv_reloadable broken on purpose" in text, text
        # Any worker forked for the reload is gone; the originals remain.
        assert server.wait_for_workers(2) == original
        assert not re.search(r"Stopping worker %d" % original[0], text)
        load.wait_for_ok(100)
        assert server.get("/version").body == b"v1"

        _write_app(app, "v3")
        new, _ = _hup_and_wait(server, original)
        load.wait_for_ok(100)
    assert load.failed == 0, load.summary()
    resp = server.get("/version")
    assert resp.status == 200 and resp.body == b"v3"
    assert not set(new) & set(original)
    assert server.proc.poll() is None


@pytest.mark.timeout(45)
def test_failed_reload_of_a_batch_stops_the_other_new_workers(server_factory, tmp_path):
    app = tmp_path / "sv_reloadable.py"
    _write_app(app, "v1")
    server = server_factory("sv_reloadable", workers=8,
                            pythonpath=[tmp_path, APPS_DIR], env=NO_PYC)
    original = server.wait_for_workers(8)
    _write_app(app, "v2-broken", broken=True)
    mark = server.log_offset()
    server.signal(signal.SIGHUP)
    server.wait_for_log(r"Reload failed", after=mark)
    assert server.wait_for_workers(8) == original
    text = server.log()[mark:]
    forked = [int(m.group("pid")) for m in BOOTING_RE.finditer(text)]
    assert len(forked) == 2, text            # one batch, then the reload stopped
    # The batch's other worker is stopped with the reload, not counted as a
    # boot failure to back off from, and nothing is respawned.
    assert len(re.findall(r"Reload failed", text)) == 1, text
    assert "respawning" not in text and "while booting" not in text, text
    assert re.search(r"Stopping worker (%d|%d): its reload failed" % tuple(forked), text)
    assert server.get("/version").body == b"v1"


CONFIG_BREAKAGES = {
    "syntax-error": ("workers = (\n", r"SyntaxError"),
    "unknown-setting": ("wrokers = 3\n", r"unknown setting 'wrokers'.*did you mean 'workers'"),
    "bad-value": ("workers = 'lots'\n", r"workers: expected a whole number"),
}


@pytest.mark.timeout(45)
@pytest.mark.parametrize("breakage", sorted(CONFIG_BREAKAGES))
def test_hup_with_invalid_config_keeps_old_workers_serving(server_factory, tmp_path,
                                                          breakage):
    conf = tmp_path / "sv_conf.py"
    conf.write_text("workers = 2\ntimeout = 20\n")
    server = server_factory("sv_app", "-c", conf, workers=None)
    original = server.wait_for_workers(2)
    with Load(server, threads=4, duration=30) as load:
        load.wait_for_ok(50)
        content, expected = CONFIG_BREAKAGES[breakage]
        conf.write_text(content)
        mark = server.log_offset()
        server.signal(signal.SIGHUP)
        line = server.wait_for_log(r"Reload failed, keeping the running "
                                   r"configuration: .*", after=mark).group(0)
        assert str(conf) in line and re.search(expected, line), line
        load.wait_for_ok(100)
        text = server.log()[mark:]
        assert not BOOTING_RE.search(text) and "Stopping worker" not in text, text
        assert server.worker_pids() == original

        conf.write_text("workers = 3\n")
        mark = server.log_offset()
        server.signal(signal.SIGHUP)
        for pid in original:
            server.wait_for_log(r"Stopping worker %d gracefully: reload" % pid,
                                after=mark)
        new = server.wait_for_workers(3, exclude=original)
        load.wait_for_ok(100)
    assert load.failed == 0, load.summary()
    assert len(log_pids(BOOTING_RE.pattern, server.log()[mark:])) >= 3, new


@pytest.mark.timeout(30)
def test_hup_to_app_that_dies_at_import_backs_off_and_gives_up(server_factory,
                                                              tmp_path):
    app = tmp_path / "sv_reloadable.py"
    _write_app(app, "v1")
    server = server_factory("sv_reloadable", "--max-boot-failures", "3", workers=2,
                            pythonpath=[tmp_path, APPS_DIR], env=NO_PYC)
    original = server.wait_for_workers(2)
    with Load(server, threads=4, duration=30) as load:
        load.wait_for_ok(50)
        app.write_text("import os\nos._exit(1)\n")
        mark = server.log_offset()
        server.signal(signal.SIGHUP)
        gave_up = server.wait_for_log(
            r"Reload failed: 3 new workers in a row died while booting \(last: worker "
            r"(\d+) exited with code 1\); the previous workers keep serving",
            after=mark, timeout=10)
        # No more attempts afterwards, across a few turns of the arbiter loop.
        quiet_from = server.log_offset()
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            load.wait_for_ok(10)
        text = server.log()[mark:]
    assert load.failed == 0, load.summary()
    assert server.proc.poll() is None, text
    assert server.worker_pids() == original
    attempts = [int(pid) for pid in BOOTING_RE.findall(text)]
    delays = [float(d) for d in re.findall(r"respawning in ([\d.]+) s", text)]
    assert len(attempts) == 3 and attempts[-1] == int(gave_up.group(1)), text
    assert delays == [0.1, 0.2], text
    assert not BOOTING_RE.search(server.log()[quiet_from:]), server.log()[quiet_from:]


TAGGED = '''\
"""Written by test_sv_reload: answers "$SV_TAG <sv_tagged_lib.VALUE> <pid>".
Its import fails when $SV_TAG is "broken"; the library is looked up at each
request, as a framework imports views lazily."""
import importlib
import os
import sv_tagged_lib        # noqa: F401 (imported with the app, as views are)

if os.environ.get("SV_TAG") == "broken":
    raise RuntimeError("sv_tagged broken on purpose")


def application(environ, start_response):
    lib = importlib.import_module("sv_tagged_lib")
    body = ("%s %s %d" % (os.environ.get("SV_TAG"), lib.VALUE, os.getpid())).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
'''


def _answer_of(server, pid, timeout=10.0):
    """GET / until worker ``pid`` answers; its "tag lib" answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tag, lib, who = server.get("/").body.decode().split()
        if int(who) == pid:
            return "%s %s" % (tag, lib)
    raise AssertionError("worker %d never answered\n%s" % (pid, server.log()))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("preload", [False, True], ids=["fork-loads", "preload"])
def test_after_a_failed_reload_a_replaced_worker_gets_the_previous_config(
        server_factory, tmp_path, preload):
    """A HUP whose new config (raw_env) makes the app fail and whose library
    changed: the reload fails, and a worker killed afterwards is replaced with
    the configuration, environment and modules from before the HUP (without
    that, its replacement could not boot, or had the new library and
    environment under the preloaded old app). A HUP with a fixed config then
    reloads."""
    (tmp_path / "sv_tagged.py").write_text(TAGGED)
    lib = tmp_path / "sv_tagged_lib.py"
    lib.write_text('VALUE = "lib1"\n')
    conf = tmp_path / "conf.py"
    conf.write_text('raw_env = ["SV_TAG=v1"]\n')
    server = server_factory("sv_tagged", "-c", conf, *(["--preload"] if preload else []),
                            workers=2, pythonpath=[tmp_path, APPS_DIR], env=NO_PYC)
    original = server.wait_for_workers(2)
    assert server.get("/").body.startswith(b"v1 lib1 ")

    conf.write_text('raw_env = ["SV_TAG=broken"]\n')
    lib.write_text('VALUE = "lib2"\n')
    mark = server.log_offset()
    server.signal(signal.SIGHUP)
    server.wait_for_log(r"Reload failed", after=mark)    # then at once, back to v1
    assert "sv_tagged broken on purpose" in server.log()[mark:]
    assert server.wait_for_workers(2) == original

    os.kill(original[0], signal.SIGKILL)
    replacement = [pid for pid in server.wait_for_workers(2, exclude=[original[0]])
                   if pid != original[1]][0]
    # Its environment is the old one; its code the preloaded app's, or else
    # what is on disk (a worker that loads the app after the fork reads that).
    assert _answer_of(server, replacement) == ("v1 lib1" if preload else "v1 lib2")
    text = server.log()[mark:]
    assert "while booting" not in text, text
    assert "Back to the configuration from before the HUP" in text, text

    conf.write_text('raw_env = ["SV_TAG=v3"]\n')
    mark = server.log_offset()
    server.signal(signal.SIGHUP)
    server.wait_for_log(r"Reload complete", after=mark)
    assert server.get("/").body.startswith(b"v3 lib2 ")
