"""``--threads N`` under the loads and faults a client can cause, over real
processes.

While keep-alive clients keep every thread of a worker busy (each sends its
next request as soon as its response arrives, so a request of the worker's
own always waits for the next free thread), a new connection in the listen
backlog is still served within a few requests, not only once they stop.
"""
import threading

import pytest

from tests.harness.process import wait_until

KEEP_CLIENTS = 4        # on 2 threads: two requests always wait for one
LOAD_LIMIT = 400        # requests the keep-alive clients make at most


def _keep_alive_load(server, path, counts, stop):
    """KEEP_CLIENTS threads, each on one keep-alive connection, requesting
    ``path`` until ``stop`` is set or LOAD_LIMIT requests were made in all."""
    lock = threading.Lock()

    def client():
        conn = server.connection(timeout=30)
        try:
            while not stop.is_set():
                with lock:
                    if counts[0] >= LOAD_LIMIT:
                        return
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                assert response.status == 200
                with lock:
                    counts[0] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True)
               for _ in range(KEEP_CLIENTS)]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.timeout(60)
def test_a_new_connection_is_served_while_kept_connections_busy_every_thread(
        server_factory):
    server = server_factory("slow", "--threads", "2", workers=1)
    counts, stop = [0], threading.Event()
    load = _keep_alive_load(server, "/?s=0.02", counts, stop)
    try:
        wait_until(lambda: counts[0] >= 2 * KEEP_CLIENTS, 20, lambda: counts)
        before = counts[0]
        response = server.get("/?s=0", timeout=40)
        after = counts[0]
    finally:
        stop.set()
        for thread in load:
            thread.join(40)
    assert response.status == 200
    # Served about in turn with the kept connections, not once they stopped.
    assert after < LOAD_LIMIT and after - before <= 10 * KEEP_CLIENTS, (before, after)
