"""With ``--threads N``: the requests that wait for a thread get one oldest
first, on a worker built by its constructor (``Booted``); the pool is a
stand-in that only counts free threads, and dispatching is recorded."""
import types

from appserver.net.connection import IDLE
from tests.worker.test_process import GET, Booted


def _busy_worker(tmp_path, connections):
    booted = Booted(tmp_path, idle=connections)
    worker = booted.worker
    worker.pool = types.SimpleNamespace(free=0)     # every thread busy
    served = []

    def dispatch(conn, request):
        worker.pool.free -= 1
        served.append(conn)
        return False

    worker._serve = dispatch
    idle = [c for c in worker.table.conns.values() if c.state is IDLE]
    return booted, worker, idle, served


def test_waiting_requests_get_freed_threads_oldest_first(tmp_path):
    booted, worker, idle, served = _busy_worker(tmp_path, 3)
    # The requests arrive on the last connection first.
    arrival = [(conn, client) for conn, client in zip(idle, booted.clients)][::-1]
    for conn, client in arrival:
        client.sendall(GET)
        worker._readable(conn)
    assert served == [] and list(worker.waiting) == [c for c, _ in arrival]
    worker.pool.free = 1
    worker._resume_waiting()
    assert served == [arrival[0][0]]
    worker.pool.free = 2
    worker._resume_waiting()
    assert served == [c for c, _ in arrival] and not worker.waiting
    booted.close()


def test_a_request_on_a_kept_connection_waits_behind_older_ones(tmp_path):
    booted, worker, idle, served = _busy_worker(tmp_path, 2)
    (first, first_client), (second, second_client) = list(zip(idle, booted.clients))[:2]
    first_client.sendall(GET)
    worker._readable(first)
    worker.pool.free = 1
    worker._resume_waiting()            # the freed thread goes to the waiting one
    second_client.sendall(GET)
    worker._readable(second)            # and the newer request waits
    assert served == [first] and list(worker.waiting) == [second]
    booted.close()
