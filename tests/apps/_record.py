"""Helper for test apps: append a line to a record file in the test's directory.

Contract: ``record(name, line)`` appends ``line`` plus a newline to
``$TESTAPP_RECORD_DIR/<name>`` (the harness sets that variable) in a single
``write`` with O_APPEND, so lines from several workers never interleave.
Without the variable it does nothing.
"""
import os


def record(name, line):
    """Append one line to the record file ``name``."""
    directory = os.environ.get("TESTAPP_RECORD_DIR")
    if not directory:
        return
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_records(directory, name):
    """The lines recorded so far in ``directory/name`` (a list, maybe empty)."""
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []
