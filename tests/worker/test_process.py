"""Pure parts of the worker module."""

from appserver.worker.process import HEARTBEAT_INTERVAL, idle_sleep


def test_an_idle_worker_beats_well_within_a_short_timeout():
    # With --timeout 1 a one-second sleep let the arbiter see a heartbeat
    # 1.0 s old and kill an idle worker as stuck.
    assert idle_sleep(1) <= 0.25
    assert idle_sleep(0.2) <= 0.05


def test_idle_sleep_is_the_heartbeat_interval_otherwise():
    assert idle_sleep(30) == HEARTBEAT_INTERVAL
    assert idle_sleep(0) == HEARTBEAT_INTERVAL          # timeout disabled
