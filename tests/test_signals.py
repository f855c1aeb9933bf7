"""Unit tests for appserver.signals: SignalQueue.

Real signals sent to this process (SIGUSR1/SIGUSR2/SIGWINCH): handlers only
record, in order; the wakeup pipe becomes readable and is drained; ``wait``
returns at once when a signal is pending or arrives, and after ``timeout``
otherwise; ``close`` stops routing and closes the pipe. Every test restores
the signal dispositions and the wakeup fd it changed.
"""
import os
import select
import signal
import threading
import time

import pytest

from appserver.signals import SignalQueue

SIGS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


@pytest.fixture
def queue():
    saved = {s: signal.getsignal(s) for s in SIGS}
    q = SignalQueue(SIGS)
    yield q
    q.close()
    signal.set_wakeup_fd(-1)
    for s, handler in saved.items():
        signal.signal(s, handler)


def _readable(fd):
    return bool(select.select([fd], [], [], 0)[0])


def _raise(signum):
    # signal.raise_signal delivers synchronously; the Python handler runs
    # before the next bytecode of this thread.
    signal.raise_signal(signum)


def test_handlers_record_signals_in_arrival_order(queue):
    assert queue.pop() is None
    for s in (signal.SIGUSR2, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
        _raise(s)
    assert [queue.pop() for _ in range(5)] == [
        signal.SIGUSR2, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, None]


def test_installs_the_recording_handler(queue):
    for s in SIGS:
        handler = signal.getsignal(s)
        assert callable(handler)
        assert handler not in (signal.SIG_DFL, signal.SIG_IGN)


def test_pipe_is_non_blocking_and_close_on_exec(queue):
    import fcntl
    assert os.get_inheritable(queue.read_fd) is False
    assert fcntl.fcntl(queue.read_fd, fcntl.F_GETFL) & os.O_NONBLOCK
    assert not _readable(queue.read_fd)


def test_signal_makes_pipe_readable_and_drain_empties_it(queue):
    for _ in range(3):
        _raise(signal.SIGUSR1)
    assert _readable(queue.read_fd)
    queue.drain_pipe()
    assert not _readable(queue.read_fd)
    queue.drain_pipe()                      # empty pipe: no error, no block
    assert [queue.pop() for _ in range(4)] == [signal.SIGUSR1] * 3 + [None]


def test_wait_times_out_without_signal(queue):
    start = time.monotonic()
    queue.wait(0.05)
    elapsed = time.monotonic() - start
    assert 0.04 <= elapsed < 2.0
    assert queue.pop() is None


def test_wait_negative_timeout_returns_at_once(queue):
    start = time.monotonic()
    queue.wait(-5)
    assert time.monotonic() - start < 1.0


def test_wait_returns_at_once_when_a_signal_is_queued(queue):
    _raise(signal.SIGUSR2)
    start = time.monotonic()
    queue.wait(30)
    assert time.monotonic() - start < 5.0
    assert queue.pop() == signal.SIGUSR2


def test_wait_wakes_when_a_signal_arrives_during_the_wait(queue):
    # A signal sent from another thread while the main thread sleeps in
    # select(): the wakeup fd makes select return long before the timeout.
    sender = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGUSR1))
    start = time.monotonic()
    sender.start()
    queue.wait(30)
    sender.join()
    assert time.monotonic() - start < 10.0
    assert queue.pop() == signal.SIGUSR1


def test_wait_drains_the_pipe_of_an_already_popped_signal(queue):
    _raise(signal.SIGWINCH)
    assert queue.pop() == signal.SIGWINCH   # queue empty, pipe still readable
    start = time.monotonic()
    queue.wait(30)
    assert time.monotonic() - start < 5.0
    assert not _readable(queue.read_fd), "wait() did not drain the pipe"


def test_close_stops_routing_and_closes_pipe(queue):
    read_fd, write_fd = queue.read_fd, queue._write_fd
    queue.close()
    # the wakeup fd was reset: setting a new one returns the previous, -1
    assert signal.set_wakeup_fd(-1) == -1
    for fd in (read_fd, write_fd):
        with pytest.raises(OSError):
            os.fstat(fd)
    queue.close()                           # twice is harmless
