"""The thread pool of a worker run with ``--threads N`` (N > 1).

Contract: the worker's loop stays the only owner of every connection. It
``submit``s a ``Job`` (the connection, its request, when it began) once a
head is complete and a thread is free, and stops watching that connection.
A pool thread runs the app for the job through a ``Lease``: all of the
connection a thread may use, which is the current request's body and
response I/O (``read_body``, ``sendall``, ``sendfile``...), never a state
transition or a deadline. The thread writes its own scoreboard row
(``scoreboard.Row``), runs the app (request hooks, request id and access
line included, as ``wsgi.handler.handle`` does for the sync worker), then
puts the job on ``done`` and wakes the loop through a ``Wakeup`` (an
eventfd, or a pipe before Python 3.10) in the loop's epoll set
(``wake_fd``). The loop takes finished jobs back (``take_done``) and moves
each connection on through the connection's own ``finished``, as after an
inline call. Anything else a thread needs of the worker (a request hook
setting ``worker.alive = False``) goes the same way: ``later(call)``, run by
the loop (``take_calls``). ``running`` and ``free`` are the loop's: only the
loop reads or changes them.

A request past ``timeout``: the loop logs its thread's stack (``stack``)
and ``abandon``s the job. Each socket call of a lease holds the lease's
lock; the loop takes that lock without waiting and keeps it for good, so the
thread can never touch that socket again (it would block on the lock until
the process ends). If nothing of the response went out (``sent_any``), the
loop answers the 504 itself through the connection; if the response is over
(``answered``: the thread is stuck in a ``post_request`` hook, say), the
loop only closes the connection; in between, it resets it. An abandoned job keeps
its thread, which ends with the process: the worker retires.

``LockedCounters`` serializes the metric stores of the threads and the
loop: a counter's ``+= 1`` is a read and a write.
"""

import collections
import logging
import os
import queue
import sys
import threading
import traceback

from appserver.wsgi import handler

log = logging.getLogger("appserver")

_PREFIX = "appserver-thread-"


class Lease:
    """What a pool thread may do with the connection whose request it runs;
    see the module comment. The response is under way once ``sent_any``."""

    __slots__ = ("_conn", "lock", "parser", "peer", "sent_any")

    def __init__(self, conn):
        self._conn = conn
        self.lock = threading.Lock()
        self.parser = conn.parser
        self.peer = conn.peer
        self.sent_any = False

    @property
    def received(self):
        return self._conn.received

    @received.setter
    def received(self, value):
        self._conn.received = value

    @property
    def aborted(self):
        return self._conn.aborted

    def abort(self, on=True):
        with self.lock:
            self._conn.abort(on)

    def skip_empty_body(self):
        return self._conn.skip_empty_body()

    def read_body(self, size=None):
        with self.lock:
            return self._conn.read_body(size)

    def discard_body(self, limit):
        with self.lock:
            return self._conn.discard_body(limit)

    def send_continue(self):
        with self.lock:
            self._conn.send_continue()

    def sendall(self, data):
        with self.lock:
            self.sent_any = True
            self._conn.sendall(data)

    def send_parts(self, parts):
        with self.lock:
            self.sent_any = True
            self._conn.send_parts(parts)

    def sendfile(self, fileobj, offset, count):
        with self.lock:
            self.sent_any = True
            return self._conn.sendfile(fileobj, offset, count)

    def send_error(self, error, head_only):
        with self.lock:
            self.sent_any = True
            return self._conn.send_error(error, head_only)


class Job:
    """One request on its way through a pool thread. It is also the
    observer ``handle`` is given: it keeps the environ and the response
    (for an access line if the job is abandoned) and passes both on."""

    __slots__ = ("conn", "lease", "request", "since", "observer", "keep", "thread",
                 "number", "size", "environ", "response", "answered", "timed_out",
                 "abandoned", "stack_logged")

    def __init__(self, conn, request, since, observer):
        self.conn = conn
        self.lease = Lease(conn)
        self.request = request
        self.since = since          # monotonic: when the loop dispatched it
        self.observer = observer
        self.keep = False           # the thread's answer: keep-alive may go on
        self.thread = None          # the ident of the thread running it
        self.number = self.size = 0  # that thread's row, of how many
        self.environ = None
        self.response = None
        self.answered = False       # the response is over: its access line is due
        self.timed_out = False      # the loop saw it run past timeout
        self.abandoned = False      # the loop took the lease's lock for good
        self.stack_logged = False   # slow-request: its stack was logged

    def started(self, request, environ, response):
        self.environ, self.response = environ, response
        self.observer.started(request, environ, response)

    def finished(self, conn, request, environ, response, duration):
        with self.lease.lock:       # not once the loop took over (``abandon``)
            self.answered = True
        self.observer.finished(conn, request, environ, response, duration)


class ThreadPool:
    """N threads that run jobs; see the module comment. ``run(job)`` is
    called on a pool thread and returns whether keep-alive may go on."""

    def __init__(self, size, rows, run):
        self.size = size
        self.rows = rows            # a scoreboard.Row per thread
        self.run = run
        self.jobs = queue.SimpleQueue()
        self.done = collections.deque()
        self.calls = collections.deque()    # for the loop, from the threads
        self.wakeup = Wakeup()
        self.wake_fd = self.wakeup.fd
        self.running = set()        # the loop's: jobs submitted, not yet taken back
        self.stuck = 0              # threads held by abandoned jobs

    def start(self):
        for number, row in enumerate(self.rows):
            row.set_idle()
            threading.Thread(target=self._serve, args=(number,), daemon=True,
                             name="%s%d" % (_PREFIX, number + 1)).start()

    def on_thread(self):
        """True when called on one of the pool's threads."""
        return threading.current_thread().name.startswith(_PREFIX)

    def later(self, call):
        """Have the loop run ``call()`` (from a pool thread)."""
        self.calls.append(call)
        self.wakeup.set()

    def take_calls(self):
        calls = []
        while self.calls:
            calls.append(self.calls.popleft())
        return calls

    @property
    def free(self):
        """Threads free to take a job now (none while jobs wait in the queue)."""
        return max(0, self.size - len(self.running) - self.stuck)

    def submit(self, job):
        self.running.add(job)
        self.jobs.put(job)

    def woken(self):
        """The loop was woken (``wake_fd`` was readable): reset the wake-up,
        before it takes the calls and the jobs, so that none is missed."""
        self.wakeup.clear()

    def take_done(self):
        """The jobs finished since the last call (the loop's side)."""
        done = []
        while self.done:
            job = self.done.popleft()
            if job.abandoned:
                self.stuck -= 1     # it came back after all: its thread is free
            else:
                self.running.discard(job)
                done.append(job)
        return done

    def overdue(self, limit):
        """Running jobs that began before ``limit`` (a monotonic time)."""
        return [job for job in self.running if job.since <= limit]

    def abandon(self, job):
        """Take ``job``'s lease from its thread for good (see the module
        comment); False while the thread is inside a socket call. A job
        ``answered`` already (stuck in a ``post_request`` hook, say) needs
        no answer from the loop: its connection is only closed."""
        if not job.lease.lock.acquire(blocking=False):
            return False
        job.abandoned = True
        self.running.discard(job)
        self.stuck += 1
        return True

    def stack(self, job):
        """The stack of the thread running ``job``, from the app call on."""
        frame = sys._current_frames().get(job.thread)
        if frame is None:
            return "(the thread has no Python frame)"
        stack = traceback.extract_stack(frame)
        starts = [i for i, f in enumerate(stack)
                  if f.filename == handler.handle.__code__.co_filename]
        del stack[:starts[-1] + 1 if starts else 0]
        return "".join(traceback.format_list(stack)).rstrip()

    # -- on a pool thread ------------------------------------------------------

    def _serve(self, number):
        row = self.rows[number]
        ident = threading.get_ident()
        while True:
            job = self.jobs.get()
            job.thread, job.number, job.size = ident, number, self.size
            row.started(job.request.line.encode("latin-1"), job.since)
            try:
                job.keep = self.run(job)
            except BaseException:
                log.exception("Error in thread %d serving %s", number + 1,
                              job.request.line)
                job.keep = False
            row.finished()
            self.done.append(job)
            self.wakeup.set()


class Wakeup:
    """One descriptor the loop polls, made readable by ``set()`` from any
    thread and unreadable again by ``clear()``: an eventfd where Python has
    one (3.10 and later), else a non-blocking pipe."""

    _ONE = (1).to_bytes(8, sys.byteorder)

    def __init__(self):
        if hasattr(os, "eventfd"):
            self.fd = self._write_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:
            self.fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def set(self):
        try:
            os.write(self._write_fd, self._ONE)
        except BlockingIOError:
            pass                # the pipe is full: readable already

    def clear(self):
        try:
            os.read(self.fd, 65536)     # an eventfd's counter, or the pipe's bytes
        except BlockingIOError:
            pass


class LockedCounters:
    """A slot's ``metrics.Counters`` shared by the threads and the loop."""

    __slots__ = ("_counters", "_lock")

    def __init__(self, counters):
        self._counters = counters
        self._lock = threading.Lock()

    def record(self, method, status, duration, bytes_in, bytes_out):
        with self._lock:
            self._counters.record(method, status, duration, bytes_in, bytes_out)

    def booted(self, seconds):
        self._counters.booted(seconds)

    def ask_reload(self):
        self._counters.ask_reload()
