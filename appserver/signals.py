"""Signal mechanism shared by the arbiter and the workers.

Handlers only record: they append the signal number to a queue, and
``signal.set_wakeup_fd`` writes a byte to a pipe so a loop sleeping in
``select``/``epoll`` wakes at once. The loop then drains the queue and decides.
``SignalQueue`` owns the pipe; each process (arbiter or worker) makes its own.
The signal numbers the arbiter sends its workers beyond the usual ones are
here too, below both sides.
"""

import collections
import os
import select
import signal

STACK_SIGNAL = signal.SIGURG    # arbiter -> worker: log your slow request's stack


class SignalQueue:
    """Record signals and expose a file descriptor that becomes readable."""

    def __init__(self, signums):
        self._queue = collections.deque()
        self.read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for signum in signums:
            signal.signal(signum, self._record)

    def _record(self, signum, frame):
        self._queue.append(signum)

    def pop(self):
        """The oldest recorded signal, or None."""
        return self._queue.popleft() if self._queue else None

    def drain_pipe(self):
        """Empty the wakeup pipe (its bytes carry no meaning of their own)."""
        try:
            while os.read(self.read_fd, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def wait(self, timeout, fds=()):
        """Sleep until a signal arrives, one of ``fds`` is readable, or
        ``timeout`` seconds pass; returns the readable ``fds``."""
        if self._queue:
            timeout = 0.0
        try:
            readable = select.select([self.read_fd] + list(fds), [], [],
                                     max(0.0, timeout))[0]
        except InterruptedError:
            readable = []
        self.drain_pipe()
        return [fd for fd in readable if fd != self.read_fd]

    def close(self):
        """Stop routing signals here (used by a worker right after fork)."""
        signal.set_wakeup_fd(-1)
        for fd in (self.read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass

