"""``worker.threads.Wakeup``: the descriptor a pool thread makes readable to
wake the loop, on both of its kinds (eventfd, and the pipe Python 3.9 gets)."""

import os
import select
import threading

import pytest

from appserver.worker.threads import Wakeup


def _readable(fd):
    return bool(select.select([fd], [], [], 0)[0])


@pytest.fixture(params=["eventfd", "pipe"])
def wakeup(request, monkeypatch):
    if request.param == "pipe":
        monkeypatch.delattr(os, "eventfd", raising=False)
    elif not hasattr(os, "eventfd"):
        pytest.skip("this Python has no os.eventfd")
    made = Wakeup()
    yield made
    for fd in {made.fd, made._write_fd}:
        os.close(fd)


def test_set_from_another_thread_makes_it_readable_and_clear_resets_it(wakeup):
    assert not _readable(wakeup.fd)
    setters = [threading.Thread(target=wakeup.set) for _ in range(3)]
    for setter in setters:
        setter.start()
    for setter in setters:
        setter.join()
    assert _readable(wakeup.fd)
    wakeup.clear()
    assert not _readable(wakeup.fd)
    wakeup.clear()                          # nothing pending: no error


def test_many_wakes_without_a_clear_never_block_the_setter(wakeup):
    for _ in range(20000):                  # more than a pipe's buffer holds
        wakeup.set()
    assert _readable(wakeup.fd)
