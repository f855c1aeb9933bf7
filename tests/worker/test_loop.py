"""One turn of ``Worker._loop`` with its handlers recorded: the handoff
pair, the signal pipe and the listeners are served on every wakeup, also when a
long call (here: a connection adopted from the pair) cuts the turn short for
the worker's own connections. Under a mixed load a new connection waited in
the backlog for seconds while every turn was cut short before reaching it."""
import os
import time
import types

import pytest

from appserver.config import loading
from appserver.observe import scoreboard
from appserver.worker import Worker
from appserver.worker.handoff import create_pair

SIG, PAIR, LISTENER, OWN = 3, 4, 5, 6


class Stop(Exception):
    pass


class Poller:
    """Gives one batch of events, then ends the loop."""

    def __init__(self, batch):
        self.batches = [batch]

    def poll(self, timeout):
        if not self.batches:
            raise Stop()
        return self.batches.pop(0)


def built(tmp_path, **settings):
    """A worker made by its constructor, as the arbiter makes one."""
    cfg = loading.load("hello:app", settings, {}, str(tmp_path))
    slot = scoreboard.Scoreboard(slots=4).claim(0, os.getpid(), time.monotonic())
    read, write = os.pipe()
    return Worker(cfg, [], slot, lambda environ, start: [], types.SimpleNamespace(
        enabled=False), 1, create_pair(), write)


def a_worker(batch, long_adoption, accepting=True, tmp_path="."):
    worker = built(tmp_path)
    calls = []
    worker.calls = calls
    worker.poller = Poller(batch)
    worker.table.accepting = accepting
    worker.table.conns[OWN] = "own connection"
    worker.listeners = {LISTENER: "listener"}
    worker.signals = types.SimpleNamespace(read_fd=SIG)
    worker.handoff = types.SimpleNamespace(fileno=lambda: PAIR)
    worker.next_sweep = float("inf")

    def adopt():
        calls.append("adopt")
        worker.long = long_adoption

    worker._signals = lambda: calls.append("signals")
    worker._adopt = adopt
    worker._accept = lambda listener: calls.append("accept")
    worker._readable = lambda conn: calls.append("own")
    return worker


def run_one_turn(worker):
    with pytest.raises(Stop):
        worker._loop()
    return worker.calls


@pytest.mark.parametrize("order", [
    [OWN, LISTENER, PAIR, SIG], [SIG, PAIR, OWN, LISTENER], [LISTENER, OWN, SIG, PAIR]])
def test_a_long_adopted_call_skips_own_connections_but_not_new_ones(order):
    calls = run_one_turn(a_worker([(fd, 1) for fd in order], long_adoption=True))
    assert calls == ["adopt", "signals", "accept"]


def test_a_quick_turn_serves_everything_ready():
    calls = run_one_turn(a_worker([(OWN, 1), (LISTENER, 1), (PAIR, 1)], long_adoption=False))
    assert calls == ["adopt", "accept", "own"]


def test_no_accept_once_accepting_stopped_in_the_same_turn():
    worker = a_worker([(SIG, 1), (LISTENER, 1)], long_adoption=False)

    def graceful_stop():
        worker.calls.append("signals")
        worker.table.accepting = False      # as accept_off does
    worker._signals = graceful_stop
    assert run_one_turn(worker) == ["signals"]
