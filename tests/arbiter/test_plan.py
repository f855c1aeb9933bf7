"""Unit tests for appserver.arbiter.plan: the arbiter's pure decisions.

Covers ``decide`` (spawn/stop counts, oldest-first stop, retiring workers
replaced one at a time without losing capacity), ``to_stop``, ``free_index``,
``stuck_workers`` (booting vs other states, disabled timeouts, strict
boundary), ``all_booted``, ``recycle_reasons``, ``respawn_delay`` (doubling and
cap) and ``describe_exit``. No process is forked: every input is built here.
"""
import itertools

import pytest

from appserver.observe import scoreboard
from appserver.arbiter import plan
from appserver.arbiter.plan import Worker

BOOTING, IDLE, BUSY, DRAINING = (scoreboard.BOOTING, scoreboard.IDLE,
                                 scoreboard.BUSY, scoreboard.DRAINING)


def info(worker, state=IDLE, heartbeat=0.0, request_line="", recycle=False,
         requests=0, rss=0, pid=None):
    """A SlotInfo for ``worker`` built by field name (robust to field order)."""
    fields = dict(index=worker.index, pid=worker.pid if pid is None else pid,
                  state=state, recycle=recycle, requests=requests,
                  heartbeat=heartbeat, request_start=0.0, boot_time=0.0, rss=rss,
                  request_line=request_line, connections=0, threads=())
    return scoreboard.SlotInfo(**{name: fields[name]
                                  for name in scoreboard.SlotInfo._fields})


def workers(n, start_pid=100, spawned=None):
    return [Worker(start_pid + i, i, float(i) if spawned is None else spawned[i])
            for i in range(n)]


def infos_for(ws, state=IDLE):
    return {w.index: info(w, state) for w in ws}


# -- plan: no worker being replaced -------------------------------------------

@pytest.mark.parametrize("desired,running", [(0, 0), (1, 0), (4, 0), (4, 1), (4, 3),
                                             (4, 4), (1, 1), (2, 2)])
def test_plan_spawns_exactly_what_is_missing(desired, running):
    ws = workers(running)
    decision = plan.decide(desired, ws, infos_for(ws), {}, set())
    assert decision == plan.Plan(desired - running, [])


@pytest.mark.parametrize("desired,running", [(0, 1), (0, 3), (1, 2), (1, 5), (3, 4)])
def test_plan_stops_the_surplus_and_spawns_nothing(desired, running):
    ws = workers(running)
    decision = plan.decide(desired, ws, infos_for(ws), {}, set())
    assert decision.spawn == 0
    assert len(decision.stop) == running - desired
    assert len(set(decision.stop)) == len(decision.stop)


def test_plan_stops_oldest_first_whatever_the_list_order():
    ws = [Worker(10, 0, 30.0), Worker(11, 1, 10.0), Worker(12, 2, 20.0),
          Worker(13, 3, 5.0)]
    for perm in itertools.permutations(ws):
        decision = plan.decide(2, list(perm), infos_for(ws), {}, set())
        assert decision.stop == [13, 11]


def test_plan_counts_booting_workers_as_running():
    ws = workers(3)
    decision = plan.decide(3, ws, infos_for(ws, BOOTING), {}, set())
    assert decision == plan.Plan(0, [])


def test_plan_ignores_workers_already_told_to_stop():
    ws = workers(3)
    # 3 live, one already sent TERM: one missing, and the TERM is not repeated.
    decision = plan.decide(3, ws, infos_for(ws), {}, {ws[0].pid})
    assert decision == plan.Plan(1, [])
    decision = plan.decide(1, ws, infos_for(ws), {}, {ws[0].pid})
    assert decision.spawn == 0
    assert decision.stop == [ws[1].pid]


# -- plan: replacing retiring workers -----------------------------------------

def test_plan_replacement_forks_one_new_worker_and_stops_nothing_yet():
    ws = workers(3)
    retiring = {w.pid: "reload" for w in ws}
    decision = plan.decide(3, ws, infos_for(ws), retiring, set())
    assert decision == plan.Plan(1, [])


def test_reload_batch_is_a_quarter_of_the_pool_at_least_one():
    assert [plan.reload_batch(n) for n in (0, 1, 2, 4, 5, 8, 9, 16)] == \
        [1, 1, 1, 1, 2, 2, 3, 4]


def test_plan_replacement_of_eight_boots_two_at_once_before_stopping_any():
    old = workers(8)
    retiring = {w.pid: "reload" for w in old}
    assert plan.decide(8, old, infos_for(old), retiring, set()) == plan.Plan(2, [])
    new = [Worker(500, 8, 100.0), Worker(501, 9, 100.0)]
    infos = infos_for(old)
    infos.update({w.index: info(w, BOOTING) for w in new})
    assert plan.decide(8, old + new, infos, retiring, set()) == plan.Plan(0, [])
    infos[new[0].index] = info(new[0], IDLE)      # one booted: one old goes,
    decision = plan.decide(8, old + new, infos, retiring, set())
    assert decision == plan.Plan(1, [old[0].pid])  # one more boots


def test_plan_replacement_waits_while_the_new_worker_boots():
    old = workers(2)
    new = Worker(500, 2, 100.0)
    infos = infos_for(old)
    infos[new.index] = info(new, BOOTING)
    decision = plan.decide(2, old + [new], infos, {w.pid: "r" for w in old}, set())
    assert decision == plan.Plan(0, [])


def test_plan_replacement_stops_oldest_retiring_once_new_one_booted():
    old = [Worker(7, 0, 50.0), Worker(8, 1, 10.0)]
    new = Worker(500, 2, 100.0)
    infos = infos_for(old)
    infos[new.index] = info(new, IDLE)
    decision = plan.decide(2, old + [new], infos, {7: "r", 8: "r"}, set())
    assert decision.stop == [8]               # spawned at 10.0: the oldest
    assert decision.spawn == 1                # and the next replacement


def test_plan_new_worker_without_slot_info_counts_as_booting():
    old = workers(1)
    new = Worker(500, 1, 100.0)
    infos = infos_for(old)                # nothing yet for the new worker
    decision = plan.decide(1, old + [new], infos, {old[0].pid: "r"}, set())
    assert decision == plan.Plan(0, [])
    # A slot still showing the previous owner's pid is not this worker's either.
    infos[new.index] = info(new, IDLE, pid=4242)
    assert plan.decide(1, old + [new], infos, {old[0].pid: "r"}, set()) \
        == plan.Plan(0, [])


def _simulate(desired, n_old, turns=40):
    """Run decide() turn after turn: forked workers boot on the next turn,
    TERMed ones exit on the next turn. Returns the trace of each turn."""
    pids = itertools.count(1000)
    ws = {}
    state = {}
    for i in range(n_old):
        w = Worker(next(pids), i, float(i))
        ws[w.pid] = w
        state[w.pid] = IDLE
    retiring = {pid: "reload" for pid in ws}
    stopping = set()
    trace = []
    for turn in range(turns):
        infos = {w.index: info(w, state[w.pid]) for w in ws.values()}
        decision = plan.decide(desired, list(ws.values()), infos, retiring, stopping)
        booting_new = sum(1 for pid, s in state.items() if s == BOOTING)
        serving = sum(1 for pid, s in state.items()
                      if s == IDLE and pid not in stopping and pid not in decision.stop)
        active = len(ws) - len(stopping) - len(decision.stop) + decision.spawn
        trace.append((decision, booting_new, serving, active))
        # carry out the plan
        for pid in decision.stop:
            assert pid in retiring, "only retiring workers are stopped"
            assert pid not in stopping, "TERM sent twice"
            stopping.add(pid)
        for _ in range(decision.spawn):
            index = plan.free_index(ws.values(), 64)
            w = Worker(next(pids), index, 100.0 + turn)
            ws[w.pid] = w
            state[w.pid] = "forked"
        # time passes: exits and boots
        for pid in [p for p in stopping if p in ws and state[p] == "stopping"]:
            del ws[pid], state[pid]
            retiring.pop(pid, None)
            stopping.discard(pid)
        for pid in stopping:
            state[pid] = "stopping"
        for pid, s in list(state.items()):
            if s == BOOTING:
                state[pid] = IDLE
            elif s == "forked":
                state[pid] = BOOTING
    return ws, retiring, stopping, trace


@pytest.mark.parametrize("desired", [1, 2, 3, 5, 8, 13])
def test_plan_rolling_replacement_keeps_capacity_and_converges(desired):
    ws, retiring, stopping, trace = _simulate(desired, desired)
    batch = plan.reload_batch(desired)
    for decision, _booting_new, serving, alive in trace:
        assert decision.spawn <= batch, "more than a batch at once"
        assert serving >= desired, "serving capacity dipped below desired"
        assert alive <= desired + batch, "more than desired + batch not stopping"
    assert max(d.spawn for d, *_ in trace) == batch, "replacements never ran in parallel"
    assert not retiring and not stopping
    assert len(ws) == desired
    assert all(w.pid >= 1000 + desired for w in ws.values()), "an old worker survived"
    assert trace[-1][0] == plan.Plan(0, [])


# -- to_stop -------------------------------------------------------------------

def test_to_stop_returns_nothing_without_surplus():
    assert plan.to_stop(3, workers(3)) == []
    assert plan.to_stop(5, workers(3)) == []
    assert plan.to_stop(0, []) == []


def test_to_stop_picks_oldest_and_breaks_ties_by_pid():
    ws = [Worker(30, 0, 1.0), Worker(20, 1, 1.0), Worker(10, 2, 2.0), Worker(5, 3, 3.0)]
    assert plan.to_stop(2, ws) == [20, 30]
    assert plan.to_stop(0, ws) == [20, 30, 10, 5]


# -- free_index ----------------------------------------------------------------

def test_free_index_is_the_lowest_unused_slot():
    assert plan.free_index([], 4) == 0
    ws = [Worker(1, 0, 0), Worker(2, 2, 0)]
    assert plan.free_index(ws, 4) == 1
    ws = [Worker(1, 0, 0), Worker(2, 1, 0), Worker(3, 3, 0)]
    assert plan.free_index(ws, 4) == 2


def test_free_index_accepts_dict_values_and_raises_when_full():
    table = {w.pid: w for w in workers(3)}
    assert plan.free_index(table.values(), 4) == 3
    with pytest.raises(RuntimeError, match="scoreboard full"):
        plan.free_index(table.values(), 3)


# -- stuck_workers -------------------------------------------------------------

def _stuck(ws, infos, now, timeout=30, boot_timeout=60):
    return plan.stuck_workers(ws, infos, now, timeout, boot_timeout)


@pytest.mark.parametrize("state", [IDLE, BUSY, DRAINING])
def test_stuck_uses_timeout_for_non_booting_states(state):
    w = Worker(1, 0, 0.0)
    infos = {0: info(w, state, heartbeat=100.0, request_line="GET / HTTP/1.1")}
    assert _stuck([w], infos, now=130.0) == []            # exactly the limit: fine
    found = _stuck([w], infos, now=130.5)
    assert len(found) == 1
    assert found[0].pid == 1 and found[0].index == 0
    assert found[0].silent_for == pytest.approx(30.5)
    assert found[0].request_line == "GET / HTTP/1.1"
    assert found[0].booting is False


def test_stuck_booting_worker_gets_boot_timeout():
    w = Worker(1, 0, 0.0)
    infos = {0: info(w, BOOTING, heartbeat=100.0)}
    assert _stuck([w], infos, now=150.0) == []           # past timeout, within boot
    assert _stuck([w], infos, now=160.0) == []
    found = _stuck([w], infos, now=160.1)
    assert [(s.pid, s.booting) for s in found] == [(1, True)]


def test_stuck_timeout_zero_disables_only_the_non_booting_check():
    a, b = Worker(1, 0, 0.0), Worker(2, 1, 0.0)
    infos = {0: info(a, BUSY, heartbeat=0.0), 1: info(b, BOOTING, heartbeat=0.0)}
    found = _stuck([a, b], infos, now=1e6, timeout=0, boot_timeout=60)
    assert [s.pid for s in found] == [2]
    found = _stuck([a, b], infos, now=1e6, timeout=30, boot_timeout=0)
    assert [s.pid for s in found] == [1]
    assert _stuck([a, b], infos, now=1e6, timeout=0, boot_timeout=0) == []


def test_stuck_skips_workers_whose_slot_is_missing_or_not_theirs():
    a, b = Worker(1, 0, 0.0), Worker(2, 1, 0.0)
    infos = {1: info(b, BUSY, heartbeat=0.0, pid=99)}    # slot 1 still shows pid 99
    assert _stuck([a, b], infos, now=1e6) == []


def test_stuck_reports_every_stuck_worker_and_only_those():
    ws = workers(4)
    infos = {0: info(ws[0], BUSY, heartbeat=0.0),
             1: info(ws[1], IDLE, heartbeat=95.0),
             2: info(ws[2], IDLE, heartbeat=10.0),
             3: info(ws[3], BOOTING, heartbeat=50.0)}
    found = _stuck(ws, infos, now=100.0)
    assert sorted(s.pid for s in found) == [ws[0].pid, ws[2].pid]


# -- all_booted ----------------------------------------------------------------

def test_all_booted_false_without_workers():
    assert plan.all_booted([], {}) is False


@pytest.mark.parametrize("state", [IDLE, BUSY, DRAINING])
def test_all_booted_true_once_every_worker_left_booting(state):
    ws = workers(3)
    assert plan.all_booted(ws, infos_for(ws, state)) is True


def test_all_booted_false_if_any_worker_is_booting_or_unknown():
    ws = workers(3)
    infos = infos_for(ws)
    infos[1] = info(ws[1], BOOTING)
    assert plan.all_booted(ws, infos) is False
    infos = infos_for(ws)
    del infos[2]
    assert plan.all_booted(ws, infos) is False
    infos = infos_for(ws)
    infos[0] = info(ws[0], IDLE, pid=1)                  # slot not yet this worker's
    assert plan.all_booted(ws, infos) is False


# -- recycle_reasons -----------------------------------------------------------

def test_recycle_reasons_asked_by_the_worker():
    w = Worker(1, 0, 0.0)
    reasons = plan.recycle_reasons(
        [w], {0: info(w, recycle=True, requests=1000)}, now=1.0, lifetime={},
        memory_limit=0)
    assert list(reasons) == [1]
    assert "max-requests" in reasons[1] and "1000" in reasons[1]
    reasons = plan.recycle_reasons(
        [w], {0: info(w, recycle=scoreboard.RECYCLE_TIMEOUT)}, now=1.0, lifetime={},
        memory_limit=0)
    assert reasons[1].startswith("request timeout")


def test_recycle_reasons_lifetime_is_strict_and_per_pid():
    a, b = Worker(1, 0, 0.0), Worker(2, 1, 0.0)
    infos = infos_for([a, b])
    assert plan.recycle_reasons([a, b], infos, 100.0, {1: 100.0}, 0) == {}
    reasons = plan.recycle_reasons([a, b], infos, 100.5, {1: 100.0}, 0)
    assert list(reasons) == [1] and "max-worker-lifetime" in reasons[1]
    # 0 or a missing pid means no limit
    assert plan.recycle_reasons([a, b], infos, 1e9, {1: 0}, 0) == {}


def test_recycle_reasons_memory_limit():
    a, b = Worker(1, 0, 0.0), Worker(2, 1, 0.0)
    infos = {0: info(a, rss=200 << 20), 1: info(b, rss=100 << 20)}
    reasons = plan.recycle_reasons([a, b], infos, 0.0, {}, 100 << 20)
    assert list(reasons) == [1]
    assert "max-worker-memory" in reasons[1] and "200 MiB" in reasons[1]
    assert plan.recycle_reasons([a, b], infos, 0.0, {}, 0) == {}


def test_recycle_reasons_skips_slots_not_belonging_to_the_worker():
    w = Worker(1, 0, 0.0)
    infos = {0: info(w, recycle=True, rss=1 << 40, pid=7)}
    assert plan.recycle_reasons([w], infos, 1e9, {1: 1.0}, 1) == {}
    assert plan.recycle_reasons([w], {}, 1e9, {1: 1.0}, 1) == {}


# -- respawn_delay -------------------------------------------------------------

def test_respawn_delay_zero_without_failures():
    assert plan.respawn_delay(0) == 0.0
    assert plan.respawn_delay(-3) == 0.0


def test_respawn_delay_doubles_from_start_then_caps():
    delays = [plan.respawn_delay(n) for n in range(1, 12)]
    assert delays[0] == plan.BACKOFF_START
    for prev, cur in zip(delays, delays[1:]):
        assert cur == pytest.approx(min(prev * 2, plan.BACKOFF_CAP))
    assert delays[-1] == plan.BACKOFF_CAP
    assert max(delays) == plan.BACKOFF_CAP


def test_respawn_delay_stays_capped_for_long_failure_runs():
    assert plan.respawn_delay(100) == plan.BACKOFF_CAP


def test_respawn_delay_never_raises_for_huge_failure_counts():
    # regression: 0.1 * 2 ** 4999 used to raise OverflowError
    assert plan.respawn_delay(5000) == plan.BACKOFF_CAP


# -- describe_exit -------------------------------------------------------------

def test_describe_exit():
    assert plan.describe_exit(0) == "exited with code 0"
    assert plan.describe_exit(3) == "exited with code 3"
    assert plan.describe_exit(-9) == "killed by signal 9"


def test_describe_exit_after_a_timeout_says_what_happened():
    assert plan.describe_exit(0, timed_out=True) == "ended its timed-out request and exited"
    assert plan.describe_exit(-9, timed_out=True) == "killed by signal 9 after its timeout"
    assert plan.describe_exit(1, timed_out=True) == "exited with code 1 after its timeout"
