"""Unit tests for appserver.worker.balance: when a worker leaves new connections to
a lighter peer, and for how long."""
from appserver.worker import balance
from appserver.worker.balance import (BUSY_FRESH, DEFER_MAX, MARGIN, RESET, WAIT_RUN,
                                      AcceptPacer, lighter_peers)
from appserver.observe.scoreboard import BOOTING, BUSY, DRAINING, IDLE, Scoreboard

NOW = 100.0


def peer(conns, state=IDLE, turn=NOW, started=0.0):
    return (state, conns, turn, started)


def reading(peers):
    return lambda: peers


def test_a_free_peer_margin_lighter_takes_the_next_connection():
    assert lighter_peers(10, [peer(10 - MARGIN)], NOW)
    assert not lighter_peers(10, [peer(10 - MARGIN + 1)], NOW)
    assert not lighter_peers(10, [], NOW)


def test_only_free_peers_count():
    assert lighter_peers(10, [peer(0, BUSY, started=NOW - BUSY_FRESH / 2)], NOW)
    assert not lighter_peers(10, [peer(0, BUSY, started=NOW - BUSY_FRESH * 2)], NOW)
    assert not lighter_peers(10, [peer(0, DRAINING)], NOW)
    assert not lighter_peers(10, [peer(0, BOOTING)], NOW)
    assert not lighter_peers(10, [peer(0, turn=NOW - balance.PEER_FRESH)], NOW)


def test_a_worker_with_few_connections_never_defers_nor_reads_its_peers():
    def unread():
        raise AssertionError("peers read for a worker with few connections")
    assert not AcceptPacer().defer(MARGIN - 1, unread, NOW)


def test_deferring_stops_when_the_peers_take_nothing_for_a_while():
    pacer, peers = AcceptPacer(), [peer(0)]
    assert pacer.defer(10, reading(peers), NOW)
    assert pacer.defer(10, reading(peers), NOW + DEFER_MAX / 2)
    assert not pacer.defer(10, reading(peers), NOW + DEFER_MAX * 1.01)   # the peer takes none
    assert not pacer.defer(10, reading(peers), NOW + RESET / 2)
    assert pacer.defer(10, reading(peers), NOW + RESET)              # tried again later


def test_a_peer_taking_connections_keeps_the_deferral_going():
    pacer = AcceptPacer()
    t = NOW
    for taken in range(5):                  # each within DEFER_MAX of the last
        assert pacer.defer(20, reading([peer(taken, turn=t)]), t)
        t += DEFER_MAX * 0.9
    assert not pacer.defer(20, reading([peer(4, turn=t)]), t + DEFER_MAX)


def test_balance_reached_ends_the_deferral():
    pacer = AcceptPacer()
    assert pacer.defer(10, reading([peer(0)]), NOW)
    assert not pacer.defer(10, reading([peer(9)]), NOW + 0.0001)
    assert pacer.since is None
    assert pacer.defer(10, reading([peer(0)]), NOW + DEFER_MAX * 5)  # a fresh window


def test_a_peer_that_has_not_run_yet_is_waited_for_a_little_longer():
    """On a loaded machine the peer woken for the same burst may wait for a
    CPU longer than DEFER_MAX: its last loop turn, older than the deferral,
    says it has not had its turn yet."""
    pacer, asleep = AcceptPacer(), [peer(0, turn=NOW - 0.5)]
    assert pacer.defer(10, reading(asleep), NOW)
    assert pacer.defer(10, reading(asleep), NOW + DEFER_MAX * 5)
    assert not pacer.defer(10, reading(asleep), NOW + WAIT_RUN * 1.01)  # never runs
    pacer = AcceptPacer()
    assert pacer.defer(10, reading(asleep), NOW)
    ran = [peer(0, turn=NOW + DEFER_MAX)]            # it ran and took nothing
    assert not pacer.defer(10, reading(ran), NOW + DEFER_MAX * 2)


def test_a_peer_serving_a_request_has_not_run_its_loop_for_that():
    """A peer that starts a request on a connection it already held has not
    had a turn of its loop (where it would accept): the request's heartbeat
    must not end the deferral, or the deferring worker takes the rest of the
    burst for RESET. Read through the real scoreboard slots."""
    board = Scoreboard(slots=2)
    mine, peer_slot = board.claim(0, 0, NOW - 1), board.claim(1, 0, NOW - 1)
    board.set_pid(0, 100)
    board.set_pid(1, 101)
    peer_slot.set_state(IDLE, NOW - 0.5)
    peer_slot.beat(NOW - 0.5)                       # asleep in its poll

    def read():
        return mine.peers(2)

    pacer = AcceptPacer()
    assert pacer.defer(10, read, NOW)
    peer_slot.request_started(b"GET / HTTP/1.1", NOW + DEFER_MAX)
    peer_slot.request_finished(NOW + DEFER_MAX * 1.5)
    assert pacer.defer(10, read, NOW + DEFER_MAX * 2)   # still waited for
    peer_slot.beat(NOW + DEFER_MAX * 3)                 # its loop turned, took none
    assert not pacer.defer(10, read, NOW + DEFER_MAX * 4)
