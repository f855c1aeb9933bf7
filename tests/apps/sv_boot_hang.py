"""Test app that never finishes importing: ``hang_at_import()`` sleeps 30 s
at module level, so a worker loading it stays in the booting state."""
import time


def hang_at_import():
    time.sleep(30)


hang_at_import()


def application(environ, start_response):  # never reached in time
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]
