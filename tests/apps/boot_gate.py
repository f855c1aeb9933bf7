"""Test app whose workers finish booting only when the test says so.

Importing it waits (at most 20 s) until the file named by ``BOOT_GATE``
exists, so every worker stays in its boot until then. Any request: 200
``pid N``.
"""
import os
import time

_deadline = time.monotonic() + 20
while not os.path.exists(os.environ["BOOT_GATE"]) and time.monotonic() < _deadline:
    time.sleep(0.01)


def application(environ, start_response):
    body = ("pid %d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
