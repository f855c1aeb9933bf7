"""``--threads N`` under the loads and faults a client can cause, over real
processes.

While keep-alive clients keep every thread of a worker busy (each sends its
next request as soon as its response arrives, so a request of the worker's
own always waits for the next free thread), a new connection in the listen
backlog is still served within a few requests, not only once they stop.
Clients that vanish in the middle of an upload or of a download give their
thread back (the app call ends, the response iterable is closed), and a
client that stops reading a large response holds its own thread only.
"""
import socket
import struct
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


def _vanish(server, head, body=b"", read=0, reset=False):
    """Send ``head`` and ``body``, read ``read`` bytes of the answer, then
    close (with a reset when ``reset``)."""
    sock = server.connect(timeout=20)
    try:
        sock.sendall(head + body)
        got = 0
        while got < read:
            data = sock.recv(65536)
            assert data, "closed after %d bytes" % got
            got += len(data)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


@pytest.mark.timeout(60)
def test_clients_that_vanish_midway_give_their_threads_back(server_factory):
    """Uploads cut in the middle of their body and downloads cut in the
    middle of their response, twice as many of each as there are threads:
    each app call ends (the download's iterable is closed), and afterwards
    both threads still run two requests at once."""
    server = server_factory("vanishing", "--threads", "2", workers=1)
    upload = (b"POST /upload HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 100000000\r\n\r\n")
    download = b"GET /download HTTP/1.1\r\nHost: x\r\n\r\n"
    for i in range(4):
        _vanish(server, upload, b"u" * 200000, reset=i % 2 == 1)
        _vanish(server, download, read=300000, reset=i % 2 == 1)
    ended = server.wait_for_records("vanishing.log", 8, timeout=20)
    assert sorted(ended) == ["download-closed"] * 4 + ["upload-ended"] * 4
    threads = [threading.Thread(target=server.get, args=("/?s=1",),
                                kwargs={"timeout": 30}, daemon=True)
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    assert server.records("hold.log") == ["start", "start", "end", "end"]


@pytest.mark.timeout(60)
def test_a_slow_reader_holds_only_its_own_thread(server_factory):
    """A client that stops reading a large response keeps one thread in its
    send; the loop, and the other thread, go on serving new connections
    meanwhile."""
    server = server_factory("vanishing", "--threads", "2", workers=1)
    slow = server.connect(timeout=20)
    try:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /download HTTP/1.1\r\nHost: x\r\n\r\n")
        assert slow.recv(16).startswith(b"HTTP/1.1 200")
        for _ in range(5):
            assert server.get("/?s=0", timeout=20).status == 200
        assert server.records("vanishing.log") == []    # still sending to it
    finally:
        slow.close()
    server.wait_for_records("vanishing.log", 1)


@pytest.mark.timeout(60)
def test_a_static_file_is_served_while_every_thread_is_busy(server_factory, tmp_path):
    """The loop answers static files itself: a kept connection's request for
    one does not wait for a thread while the app holds them all."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_bytes(b"static")
    server = server_factory("vanishing", "--threads", "2", "--static",
                            "/static/=%s" % (tmp_path / "files"), workers=1)
    kept = server.connection(timeout=20)
    try:
        for _ in range(2):
            if _:       # the second time, while both threads hold a request
                threads = [threading.Thread(target=server.get, args=("/?s=8",),
                                            kwargs={"timeout": 30}, daemon=True)
                           for _ in range(2)]
                for thread in threads:
                    thread.start()
                server.wait_for_records("hold.log", 2)
            kept.request("GET", "/static/a.txt")
            response = kept.getresponse()
            assert (response.status, response.read()) == (200, b"static")
        assert server.records("hold.log") == ["start", "start"]     # still held
    finally:
        kept.close()
    for thread in threads:
        thread.join(40)
