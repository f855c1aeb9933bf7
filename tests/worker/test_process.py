"""Pure parts of the worker module."""
import os
import socket
import time
import types

from appserver.config import loading
from appserver.net.connection import AWAIT_HEAD, IDLE
from appserver.net.sockets import Listener
from appserver.observe import scoreboard
from appserver.worker import Worker
from appserver.worker.handoff import create_pair
from appserver.worker.process import HEARTBEAT_INTERVAL, idle_sleep


def test_an_idle_worker_beats_well_within_a_short_timeout():
    # With --timeout 1 a one-second sleep let the arbiter see a heartbeat
    # 1.0 s old and kill an idle worker as stuck.
    assert idle_sleep(1) <= 0.25
    assert idle_sleep(0.2) <= 0.05


def test_idle_sleep_is_the_heartbeat_interval_otherwise():
    assert idle_sleep(30) == HEARTBEAT_INTERVAL
    assert idle_sleep(0) == HEARTBEAT_INTERVAL          # timeout disabled


# -- retiring and closing down, on a worker built by its constructor ----------

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class Booted:
    """A worker made as the arbiter makes one, set up as its boot does (no
    app load, no signals), holding ``idle`` idle keep-alive connections and
    one with half a head received."""

    def __init__(self, tmp_path, idle=3):
        cfg = loading.load("hello:app", {}, {}, str(tmp_path))
        board = scoreboard.Scoreboard(slots=4)
        self.board = board
        slot = board.claim(0, os.getpid(), time.monotonic())
        listening = socket.create_server(("127.0.0.1", 0))
        listening.setblocking(False)            # as sockets.bind_all makes them
        self.listener = Listener(listening, "tcp", listening.getsockname())
        self.pair = create_pair()
        read, self.nudge = os.pipe()
        self.worker = Worker(cfg, [self.listener], slot, lambda e, s: [],
                             types.SimpleNamespace(enabled=False), 1, self.pair, self.nudge)
        self.worker._setup(cfg)
        self.worker.table.accept_on()
        self.clients = []
        table = self.worker.table
        for _ in range(idle + 1):
            ours, theirs = socket.socketpair()
            conn = table._add(self.worker._connection(ours, "", self.listener))
            conn.start(time.monotonic())
            theirs.sendall(GET)
            conn.fill()
            conn.next_request()
            conn.discard_body(0)
            conn.finished(True, time.monotonic())
            table.watch(conn)
            self.clients.append(theirs)
        theirs.sendall(b"GET /half HT")             # the last: a head begun
        conn.fill()
        conn.next_request()
        assert conn.state is AWAIT_HEAD

    def close(self):
        for sock in self.clients + [self.listener.sock, *self.pair]:
            sock.close()


def test_a_retiring_worker_passes_every_connection_on_with_its_bytes(tmp_path):
    booted = Booted(tmp_path, idle=3)
    worker = booted.worker
    worker._retire(time.monotonic())
    assert worker.taking is False and not worker.table.accepting
    assert worker.table.conns == {}
    moved = worker.handoff.take(10)
    assert sorted(m.state for m in moved) == ["await-head", "idle", "idle", "idle"]
    assert [m.head for m in moved if m.state == "await-head"] == [b"GET /half HT"]
    for m in moved:
        m.sock.close()
    booted.close()


def test_at_max_requests_a_worker_serves_no_further_request(tmp_path):
    booted = Booted(tmp_path, idle=1)
    worker = booted.worker
    conn = next(c for c in worker.table.conns.values() if c.state is IDLE)
    worker.max_requests = 1
    worker.longcall.ticking = True          # no hand-off timer in this process
    served = []

    def app(environ, start_response):
        served.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Length", "1")])
        return [b"x"]
    worker.app = app
    booted.clients[0].sendall(GET + GET)                 # two pipelined requests
    conn.fill()
    worker._process(conn)
    assert served == ["/"]                               # the second was not served
    assert worker.handing_over and worker.table.conns == {}
    [idle_moved, moved] = sorted(worker.handoff.take(10), key=lambda m: len(m.head))
    assert moved.head == GET                             # passed on with its request
    for m in (idle_moved, moved):
        m.sock.close()
    booted.close()


def test_with_no_serving_worker_left_idle_ones_close_and_received_bytes_stay(tmp_path):
    booted = Booted(tmp_path, idle=2)
    worker = booted.worker
    booted.board.set_last(0)
    worker._stop(time.monotonic())
    assert worker.exiting and not worker.handing_over
    [left] = worker.table.conns.values()
    assert left.state is AWAIT_HEAD and left.unread
    assert worker.handoff.take(10) == []
    assert booted.clients[0].recv(10) == b""             # an idle one: closed
    booted.close()


def test_a_hook_setting_alive_false_stops_the_worker(tmp_path):
    booted = Booted(tmp_path, idle=1)
    worker = booted.worker
    worker.alive = False
    assert worker.exiting and worker.alive is False and worker.table.conns == {}
    for m in worker.handoff.take(10):
        m.sock.close()
    booted.close()


def test_an_abandoned_requests_504_that_cannot_be_sent_is_logged_as_not_sent(tmp_path):
    """The loop answers 504 for a thread that ran past timeout; when the
    client is gone and nothing goes out, the access line and the counters
    get 0 bytes, not the size of the answer."""
    booted = Booted(tmp_path, idle=1)
    worker = booted.worker
    conn = next(c for c in worker.table.conns.values() if c.state is IDLE)
    booted.clients[0].sendall(GET)
    conn.fill()
    request = conn.next_request()
    booted.clients[0].close()                       # gone: the send fails
    seen = []
    worker.observer = types.SimpleNamespace(abandoned=lambda *args: seen.append(args))
    job = types.SimpleNamespace(conn=conn, request=request, response=None, environ=None,
                                since=time.monotonic() - 5, answered=False,
                                lease=types.SimpleNamespace(sent_any=False))
    worker._answer_abandoned(job, time.monotonic())
    [(_, _, _, status, body, sent, _)] = seen
    assert (status, body, sent) == (504, 0, 0)
    booted.clients.pop(0)
    booted.close()
