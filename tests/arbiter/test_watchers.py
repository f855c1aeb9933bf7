"""Unit tests for the watchers: they read a snapshot and return decisions.

``monitor.Monitor.tick`` and ``status`` get a ``plan.Snapshot`` built here
over a real scoreboard (shared memory, no process forked) and no arbiter at
all: a slow request becomes a stack-dump decision, once per request; a
worker's reload flag becomes a reload decision; ``status.snapshot`` and the
admin routes describe exactly the snapshot they were given.
"""
import json
from types import SimpleNamespace

from appserver.observe import scoreboard, status
from appserver.arbiter import plan
from appserver.arbiter.monitor import Monitor
from appserver.signals import STACK_SIGNAL


def cfg(**kw):
    base = dict(statsd_host=None, slow_request=0, reload=False, app="pkg.mod:app",
                admin_show_query=False)
    base.update(kw)
    return SimpleNamespace(**base)


def board_with(*pids):
    board = scoreboard.Scoreboard(slots=4)
    workers = []
    for index, pid in enumerate(pids):
        board.claim(index, pid, 0.0).set_state(scoreboard.IDLE, 0.0)
        workers.append(plan.Worker(pid, index, 0.0))
    return board, workers


def snap(board, workers, now, config, retiring=None, timed_out=None, ready=True):
    infos = {w.index: board.read(w.index) for w in workers}
    table = plan.Table(now, workers, infos, retiring or {}, frozenset(),
                       timed_out or {}, {}, frozenset())
    return plan.Snapshot(table, config, len(workers), ready, False, False)


def test_slow_request_is_a_stack_dump_decision_once_per_request():
    board, workers = board_with(101, 102)
    board.slot(1).request_started(b"GET /slow HTTP/1.1", 10.0)
    monitor = Monitor(cfg(slow_request=5), board, [])
    config = cfg(slow_request=5)
    assert monitor.tick(snap(board, workers, 12.0, config)).stack_dumps == []
    actions = monitor.tick(snap(board, workers, 16.0, config))
    assert actions.stack_dumps == [102] and actions.stack_signal == STACK_SIGNAL
    assert monitor.tick(snap(board, workers, 30.0, config)).stack_dumps == []
    # A timed-out worker gets the timeout's stack dump, not this one.
    board.slot(0).request_started(b"GET /other HTTP/1.1", 20.0)
    later = snap(board, workers, 40.0, config, timed_out={101: 39.0})
    assert monitor.tick(later).stack_dumps == []


def test_reload_flag_is_a_reload_decision_unless_stopping():
    board, workers = board_with(101, 102)
    monitor = Monitor(cfg(reload=True), board, [])
    config = cfg(reload=True)
    assert monitor.tick(snap(board, workers, 1.0, config)).reload_from == []
    board.counters(1).ask_reload()
    assert monitor.tick(snap(board, workers, 2.0, config)).reload_from == [1]
    stopping = snap(board, workers, 3.0, config)._replace(stopping_all=True)
    assert monitor.tick(stopping).reload_from == []
    # The monitor only decides: the flag is still up for the arbiter to clear.
    assert monitor.tick(snap(board, workers, 4.0, config)).reload_from == [1]


def test_status_describes_the_snapshot_it_is_given():
    board, workers = board_with(101, 102)
    board.slot(0).request_started(b"GET /x HTTP/1.1", 5.0)
    given = snap(board, workers, 7.0, cfg(), retiring={102: "reload"}, ready=False)
    view = status.snapshot(given)
    assert view["app"] == "pkg.mod:app" and view["ready"] is False
    assert view["workers_wanted"] == 2
    rows = {w["pid"]: w for w in view["workers"]}
    assert rows[101]["state"] == "busy" and rows[101]["request_seconds"] == 2.0
    assert rows[102]["retiring"] == "reload" and rows[101]["retiring"] is None

    routes = status.routes(lambda: given, lambda: None)
    assert routes["/readyz"]()[0] == 503
    assert json.loads(routes["/status"]()[2])["workers_wanted"] == 2
    assert routes["/healthz"]()[0] == 200
    stuck = given._replace(table=given.table._replace(timed_out={101: 6.0}))
    code, _, body = status.routes(lambda: stuck, lambda: None)["/healthz"]()
    assert code == 503 and b"101" in body
