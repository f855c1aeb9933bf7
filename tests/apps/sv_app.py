"""Test app for the supervision tests: who served, slow, stuck in Python or C.

Contract: at import (the worker's boot, or the arbiter's with --preload)
it sleeps ``$SV_BOOT_SECONDS`` (default 0: an app that is slow to load) and
records ``booted <pid>`` in ``sv_boot.log`` (see ``_record``). By
PATH_INFO:

* ``/`` (and anything not listed): 200 text ``"<pid> <ppid>"``, the worker's
  pid and its parent's (the arbiter that forked it).
* ``/sleep?s=S``: records ``start <pid>`` in ``sv_slow.log`` (see
  ``_record``), sleeps S seconds (default 2), records ``end <pid>``, then
  answers like ``/``.
* ``/hang``: ``hang_in_python()`` sleeps 30 s in Python (a signal handler
  can interrupt it), then answers 200.
* ``/grow?mb=N``: keeps N MiB more of written (resident) memory for the
  life of the worker, then answers like ``/``.
* ``/env``: 200 text, the names of the worker's environment variables that
  systemd sets for the service (``NOTIFY_SOCKET``, ``WATCHDOG_*``,
  ``LISTEN_*``), space-separated, or ``-`` when there is none.
* ``/cstuck``: ``stuck_in_c()`` locks a default pthread mutex twice from the
  same thread through ctypes: the thread blocks in C for good, and Python
  signal handlers never get to run (only C-level handlers do).
"""
import ctypes
import os
import time
from urllib.parse import parse_qs

from _record import record

time.sleep(float(os.environ.get("SV_BOOT_SECONDS", "0")))
record("sv_boot.log", "booted %d" % os.getpid())
_hoard = []


def hang_in_python():
    time.sleep(30)


def stuck_in_c():
    libc = ctypes.CDLL(None)
    mutex = ctypes.create_string_buffer(64)     # zeroed: PTHREAD_MUTEX_INITIALIZER
    libc.pthread_mutex_lock(mutex)
    libc.pthread_mutex_lock(mutex)              # self-deadlock, restarted after signals


def _who():
    return b"%d %d" % (os.getpid(), os.getppid())


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/sleep":
        seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["2"])[0])
        record("sv_slow.log", "start %d" % os.getpid())
        time.sleep(seconds)
        record("sv_slow.log", "end %d" % os.getpid())
    elif path == "/hang":
        hang_in_python()
    elif path == "/grow":
        mib = int(parse_qs(environ.get("QUERY_STRING", "")).get("mb", ["1"])[0])
        _hoard.append(b"\1" * (mib << 20))
    elif path == "/cstuck":
        stuck_in_c()
    body = _who()
    if path == "/env":
        names = sorted(k for k in os.environ
                       if k == "NOTIFY_SOCKET" or k.startswith(("WATCHDOG_", "LISTEN_")))
        body = " ".join(names).encode() or b"-"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
