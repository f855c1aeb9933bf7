"""Gunicorn's ``server.num_workers = N`` in a hook asks for N workers, as
TTIN/TTOU do: from ``on_starting`` or ``when_ready`` the first pool has N
workers, ``nworkers_changed`` is called, and a worker-side hook that sets it
changes nothing and says so (a worker's ``server`` is a copy, as with
Gunicorn)."""
import pytest

HOOKS = '''
def {hook}(server):
    server.num_workers = 3


def nworkers_changed(server, new, old):
    server.log.info("nworkers_changed: %s -> %s", old, new)


def post_fork(server, worker):
    server.num_workers = 9
'''


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hook", ["on_starting", "when_ready"])
def test_num_workers_set_in_an_arbiter_hook_sizes_the_pool(server_factory, tmp_path,
                                                          hook):
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(HOOKS.format(hook=hook))
    srv = server_factory("hello", "-c", conf, workers=1)
    srv.wait_for_log(r"Ready: 3 workers booted")
    assert len(srv.wait_for_workers(3)) == 3
    log = srv.log()
    assert "nworkers_changed: 1 -> 3" in log, log
    assert "num_workers set by a hook: 3 workers wanted" in log, log
    assert log.count("num_workers set to 9 in a worker process changes nothing") == 3, log
    assert "Booting worker" in log and log.count("Booting worker") == 3, log
