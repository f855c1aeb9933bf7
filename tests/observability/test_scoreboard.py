"""Unit tests for appserver.observe.scoreboard: the shared per-worker slots.

Covers claim/release/read, the arbiter's setters (pid, rss), every Slot
writer (beat, set_state, request_started/finished, ask_recycle) and that
none of them clobbers another field or a neighbouring slot, line truncation,
and that a forked child's writes are seen by the parent (shared memory).
"""
import os
import signal
import time

import pytest

from appserver.observe import scoreboard
from appserver.observe.scoreboard import BOOTING, BUSY, DRAINING, EMPTY, IDLE, Scoreboard


@pytest.fixture
def board():
    return Scoreboard(slots=4)


def test_states_and_names_line_up():
    """One vocabulary: the ints the slots hold are WorkerState's, and so are
    the names status pages and metrics show."""
    state = scoreboard.WorkerState
    assert [s.label for s in state] == ["empty", "booting", "idle", "busy", "draining"]
    assert (EMPTY, BOOTING, IDLE, BUSY, DRAINING) == tuple(state)
    assert all(type(s) is int for s in (EMPTY, BOOTING, IDLE, BUSY, DRAINING))
    assert state(BUSY) is state.BUSY and state(BUSY).label == "busy"
    assert not hasattr(scoreboard, "STATE_NAMES")


def test_new_board_slots_are_empty(board):
    assert board.slots == 4
    for index in range(4):
        info = board.read(index)
        assert info.index == index
        assert info.pid == 0 and info.state == EMPTY
        assert info.requests == 0 and info.request_line == ""


def test_claim_resets_slot_to_booting(board):
    board.claim(2, 1234, 50.0)
    info = board.read(2)
    assert info.pid == 1234
    assert info.state == BOOTING
    assert info.heartbeat == 50.0
    assert info.boot_time == 50.0
    assert info.requests == 0
    assert info.request_start == 0.0
    assert info.rss == 0
    assert info.request_line == ""


def test_claim_clears_what_the_previous_owner_left(board):
    slot = board.claim(1, 10, 1.0)
    board.set_rss(1, 999)
    slot.request_started(b"GET /old HTTP/1.1", 2.0)
    slot.ask_recycle()
    board.release(1)
    board.claim(1, 11, 3.0)
    info = board.read(1)
    assert (info.pid, info.state, info.requests, info.rss, info.request_line,
            info.request_start, info.recycle) == (11, BOOTING, 0, 0, "", 0.0, False)


def test_release_marks_slot_empty_with_no_pid(board):
    board.claim(0, 77, 1.0)
    board.release(0)
    info = board.read(0)
    assert info.pid == 0 and info.state == EMPTY


def test_set_pid_and_set_rss_touch_only_their_field(board):
    board.claim(3, 0, 5.0)          # the arbiter claims before fork, pid unknown
    board.set_pid(3, 4321)
    board.set_rss(3, 123 << 20)
    info = board.read(3)
    assert info.pid == 4321 and info.rss == 123 << 20
    assert info.state == BOOTING and info.heartbeat == 5.0 and info.boot_time == 5.0


def test_beat_and_set_state(board):
    slot = board.claim(0, 1, 1.0)
    slot.beat(2.5)
    assert board.read(0).heartbeat == 2.5
    assert board.read(0).state == BOOTING
    slot.set_state(IDLE, 3.0)
    info = board.read(0)
    assert info.state == IDLE and info.heartbeat == 3.0
    slot.set_state(DRAINING, 4.0)
    assert board.read(0).state == DRAINING


def test_request_started_records_line_start_and_busy(board):
    slot = board.claim(0, 1, 1.0)
    board.set_rss(0, 4096)
    slot.set_state(IDLE, 2.0)
    line = b"POST /a/rather/long/path/beyond/sixteen/bytes?q=1 HTTP/1.1"
    slot.request_started(line, 5.0)
    info = board.read(0)
    assert info.state == BUSY
    assert info.request_line == line.decode()
    assert info.request_start == 5.0
    assert info.heartbeat == 5.0
    assert info.requests == 0
    # the fields around the request record are untouched
    assert info.boot_time == 1.0 and info.rss == 4096 and info.pid == 1


def test_request_finished_counts_clears_and_goes_idle(board):
    slot = board.claim(0, 1, 1.0)
    board.set_rss(0, 4096)
    for n in range(1, 4):
        slot.request_started(b"GET /%d HTTP/1.1" % n, 10.0 + n)
        slot.request_finished(20.0 + n)
        info = board.read(0)
        assert info.requests == n
        assert info.state == IDLE
        assert info.request_line == ""
        assert info.request_start == 0.0
        assert info.heartbeat == 20.0 + n
    assert info.boot_time == 1.0 and info.rss == 4096


def test_request_line_is_truncated_to_line_size(board):
    slot = board.claim(1, 1, 1.0)
    line = b"GET /" + b"x" * 1000 + b" HTTP/1.1"
    slot.request_started(line, 2.0)
    info = board.read(1)
    assert info.request_line == line[:scoreboard.LINE_SIZE].decode()
    assert board.read(2).pid == 0 and board.read(0).pid == 0


def test_request_line_bytes_read_back_as_latin1(board):
    slot = board.claim(0, 1, 1.0)
    slot.request_started(b"GET /caf\xc3\xa9 HTTP/1.1", 2.0)
    assert board.read(0).request_line == "GET /caf\xc3\xa9 HTTP/1.1"


def test_ask_recycle_sets_the_flag_and_keeps_state(board):
    slot = board.claim(0, 1, 1.0)
    slot.set_state(IDLE, 2.0)
    assert board.read(0).recycle == 0
    slot.ask_recycle()
    info = board.read(0)
    assert info.recycle == scoreboard.RECYCLE_MAX_REQUESTS
    assert info.state == IDLE and info.pid == 1
    slot.ask_recycle(scoreboard.RECYCLE_TIMEOUT)
    assert board.read(0).recycle == scoreboard.RECYCLE_TIMEOUT


def test_writes_to_one_slot_leave_neighbours_untouched(board):
    for i in range(4):
        board.claim(i, 100 + i, float(i))
    before = [board.read(i) for i in (0, 2, 3)]
    slot = board.slot(1)
    slot.set_state(BUSY, 9.0)
    slot.request_started(b"G" * 500, 9.0)
    slot.request_finished(9.5)
    slot.ask_recycle()
    board.set_rss(1, 2 ** 63)
    board.set_pid(1, 2 ** 31 - 1)
    assert [board.read(i) for i in (0, 2, 3)] == before
    assert board.read(1).pid == 2 ** 31 - 1


def test_slot_writer_and_claim_writer_share_the_same_memory(board):
    board.claim(2, 5, 1.0)
    board.slot(2).set_state(IDLE, 7.0)
    assert board.read(2).state == IDLE and board.read(2).heartbeat == 7.0


def test_forked_child_writes_are_visible_to_the_parent(board):
    board.claim(1, 0, 1.0)
    pid = os.fork()
    if pid == 0:                      # child: write own slot, never return
        try:
            slot = board.slot(1)
            slot.set_state(IDLE, 42.0)
            slot.request_started(b"GET /from-child HTTP/1.1", 43.0)
        finally:
            os._exit(0)
    board.set_pid(1, pid)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    info = board.read(1)
    assert info.pid == pid
    assert info.state == BUSY
    assert info.heartbeat == 43.0
    assert info.request_line == "GET /from-child HTTP/1.1"


def test_connections_are_published_and_read_by_peers(board):
    first, second = board.claim(0, 0, 1.0), board.claim(1, 0, 2.0)
    board.set_pid(0, 100)
    board.set_pid(1, 101)
    board.claim(3, 0, 3.0)                  # claimed, no pid yet: not a peer
    first.set_connections(3)
    second.set_connections(70000)           # capped at what the field holds
    second.beat(4.0)
    second.request_started(b"GET /", 5.0)
    assert board.read(0).connections == 3
    assert board.read(1).connections == 0xFFFF
    assert board.read(1).state == BUSY and board.read(1).requests == 0
    assert first.peers(4) == [(BUSY, 0xFFFF, 4.0, 5.0)]     # its loop turned at 4.0
    assert second.peers(4) == [(BOOTING, 3, 0.0, 0.0)]      # no loop turn yet
    assert second.peers(100) == [(BOOTING, 3, 0.0, 0.0)]   # bounded by the board
    first.set_state(IDLE, 9.0)
    first.beat(9.5)
    assert second.peers(1) == [(IDLE, 3, 9.5, 0.0)]


def test_only_a_loop_turn_stamps_the_turn_peers_read(board):
    """A request's start and end stamp the heartbeat (the arbiter's), not
    the loop turn: the turn peers read says whether the loop has run."""
    slot, other = board.claim(0, 0, 1.0), board.claim(1, 0, 1.0)
    board.set_pid(0, 100)
    board.set_pid(1, 101)
    slot.beat(2.0)
    slot.request_started(b"GET / HTTP/1.1", 3.0)
    assert board.read(0).heartbeat == 3.0
    assert other.peers(2) == [(BUSY, 0, 2.0, 3.0)]
    slot.request_finished(4.0)
    slot.set_state(IDLE, 5.0)
    assert board.read(0).heartbeat == 5.0
    assert other.peers(2) == [(IDLE, 0, 2.0, 0.0)]


def test_connections_field_leaves_its_neighbours_alone(board):
    slot = board.claim(1, 0, 1.0)
    board.set_pid(1, 77)
    slot.ask_recycle()
    slot.set_state(IDLE, 2.0)
    slot.set_connections(12)
    info = board.read(1)
    assert (info.pid, info.state, info.recycle, info.boot_time, info.connections) == \
        (77, IDLE, True, 1.0, 12)


def test_request_stores_leave_the_fields_before_them_alone(board):
    """State and the request fields go in one store: it must not reach back
    into the pid, recycle flag, connections, boot time or rss."""
    slot = board.claim(2, 0, 1.0)
    board.set_pid(2, 88)
    board.set_rss(2, 4096)
    slot.ask_recycle()
    slot.set_connections(9)
    for write in (lambda: slot.request_started(b"GET / HTTP/1.1", 3.0),
                  lambda: slot.request_finished(4.0)):
        write()
        info = board.read(2)
        assert (info.pid, info.recycle, info.connections, info.boot_time, info.rss) == \
            (88, True, 9, 1.0, 4096)
    assert (info.state, info.requests, info.heartbeat) == (IDLE, 1, 4.0)


def test_a_reader_never_sees_a_heartbeat_or_state_mid_write(board):
    """The arbiter reads slots while workers write them. A worker writing
    its heartbeat and request fields over and over, always with the same
    time: every read of it must give that time and a live state, never the
    0.0 heartbeat (struct.pack_into zero-fills before it packs) that made
    the arbiter kill a healthy worker as silent since boot."""
    slot = board.claim(1, 4242, 1000.0)
    slot.set_state(IDLE, 1000.0)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(ready_w, b"x")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                for _ in range(500):
                    slot.beat(1000.0)
                    slot.request_started(b"GET / HTTP/1.1", 1000.0)
                    slot.set_connections(3)
                    slot.request_finished(1000.0)
                    slot.set_state(IDLE, 1000.0)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"x"      # the writer is running
        seen = set()
        for _ in range(200000):
            info = board.read(1)
            seen.add((info.heartbeat, info.state))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(ready_w)
    assert {beat for beat, _ in seen} == {1000.0}, seen
    assert {state for _, state in seen} <= {IDLE, BUSY}, seen


def test_a_slot_without_threads_has_no_rows(board):
    board.claim(0, 1, 1.0)
    assert board.read(0).threads == () and board.slot(0).rows == 0


def test_each_thread_writes_its_own_row_and_no_other_field():
    board = Scoreboard(slots=3, threads=4)
    for index in range(3):
        board.claim(index, 100 + index, 1.0)
    slot = board.slot(1)
    slot.set_state(IDLE, 2.0)
    assert slot.rows == 4
    assert board.read(1).threads == ()          # no pool yet: no row in use
    rows = slot.use_rows(4)
    rows[0].started(b"GET /a HTTP/1.1", 3.0)
    rows[3].started(b"GET /" + b"x" * 300, 4.0)
    info = board.read(1)
    assert [t.state for t in info.threads] == [BUSY, IDLE, IDLE, BUSY]
    assert info.threads[0] == (BUSY, 3.0, "GET /a HTTP/1.1")
    assert len(info.threads[3].request_line) == scoreboard.LINE_SIZE
    assert info.state == IDLE and info.request_line == "" and info.requests == 0
    rows[0].finished()
    slot.counted(5.0)
    info = board.read(1)
    assert info.threads[0] == (IDLE, 0.0, "") and info.requests == 1
    assert info.heartbeat == 5.0
    for other in (0, 2):
        assert board.read(other).threads == ()
        assert board.read(other).pid == 100 + other and board.read(other).requests == 0
    slot.counters().record("GET", 200, 0.01, 10, 20)   # the cells are where read looks
    assert [sum(board.stats(i)[:40]) for i in range(3)] == [0, 1, 0]


def test_a_slot_has_room_for_more_rows_than_its_worker_uses():
    # A HUP may raise --threads: the map has rows for the most, and a slot
    # shows (and its worker touches) only the rows its worker uses.
    board = Scoreboard(slots=2, threads=8)
    slot = board.claim(0, 1, 1.0)
    rows = slot.use_rows(2)
    rows[1].started(b"GET /old HTTP/1.1", 2.0)
    assert [t.state for t in board.read(0).threads] == [IDLE, BUSY]
    slot = board.claim(0, 2, 3.0)               # the next worker in that slot
    assert board.read(0).threads == ()
    rows = slot.use_rows(5)
    assert board.read(0).threads == ((IDLE, 0.0, ""),) * 5     # the old line is gone
    with pytest.raises(ValueError):
        slot.use_rows(9)


def test_peers_are_read_across_slots_with_rows():
    board = Scoreboard(slots=3, threads=8)
    first, second = board.claim(0, 10, 1.0), board.claim(1, 11, 1.0)
    first.set_state(BUSY, 5.0)
    first.beat(6.0)
    first.set_connections(7)
    assert second.peers(3) == [(BUSY, 7, 6.0, 0.0)]


def test_running_and_request_slots_read_rows_or_the_worker():
    board = Scoreboard(slots=2, threads=3)
    slot = board.claim(0, 1, 1.0)
    slot.set_state(IDLE, 1.0)
    rows = slot.use_rows(3)
    rows[1].started(b"GET /b HTTP/1.1", 2.0)
    info = board.read(0)
    assert scoreboard.running(info) == [(2, 2.0, "GET /b HTTP/1.1")]
    assert scoreboard.request_slots(info) == (1, 2)
    slot.set_state(DRAINING, 3.0)           # retiring: no room for more
    assert scoreboard.request_slots(board.read(0)) == (1, 0)
    plain = Scoreboard(slots=1)
    one = plain.claim(0, 2, 1.0)
    one.set_state(IDLE, 1.0)
    assert scoreboard.running(plain.read(0)) == []
    assert scoreboard.request_slots(plain.read(0)) == (0, 1)
    one.request_started(b"GET /a HTTP/1.1", 4.0)
    assert scoreboard.running(plain.read(0)) == [(0, 4.0, "GET /a HTTP/1.1")]
    assert scoreboard.request_slots(plain.read(0)) == (1, 0)
