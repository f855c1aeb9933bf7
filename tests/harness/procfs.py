"""What /proc says of processes and listening sockets (Linux).

Contract: every function reads /proc once and never raises for a process
that is gone: ``state(pid)`` is the one-letter state or None, ``start_time``
the start time in clock ticks or None, ``alive`` is "exists and is not a
zombie", ``is_same_live(pid, start)`` also checks the pid was not reused.
``children(pid)`` lists the live children (sorted), ``descendants(pid)``
the whole tree below it, ``parent_of(pid)`` its parent or None.
``cmdline`` and ``open_paths`` read a live process; ``accept_queue(port)``
is how many connections wait to be accepted on 127.0.0.1:``port``.
"""
import os
from pathlib import Path


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None."""
    try:
        text = Path("/proc/%d/stat" % pid).read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def state(pid):
    fields = stat_fields(pid)
    return fields[0] if fields else None


def start_time(pid):
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None


def parent_of(pid):
    fields = stat_fields(pid)
    return int(fields[1]) if fields else None


def alive(pid):
    """The process exists and is not a zombie."""
    return state(pid) not in (None, "Z")


def is_same_live(pid, start):
    """Alive, and the very process that started at ``start`` (pid not reused)."""
    return alive(pid) and start_time(pid) == start


def children(pid):
    """Live child pids of ``pid``, sorted."""
    found = set()
    try:
        tasks = list(Path("/proc/%d/task" % pid).iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return []
    for task in tasks:
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return sorted(p for p in found if alive(p))


def descendants(pid):
    """Every live process below ``pid``, parents before their children."""
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid):
    """``/proc/PID/cmdline`` as one string (NULs to spaces, trimmed)."""
    raw = Path("/proc/%d/cmdline" % pid).read_bytes()
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def open_paths(pid):
    """The paths of the files process ``pid`` holds open (``/proc/PID/fd``);
    empty once it has exited."""
    fd_dir = "/proc/%d/fd" % pid
    paths = set()
    try:
        fds = os.listdir(fd_dir)
    except (FileNotFoundError, ProcessLookupError):
        return paths
    for fd in fds:
        try:
            paths.add(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            pass
    return paths


def accept_queue(port):
    """Connections waiting in the accept queue of 127.0.0.1:``port`` (the
    ``rx_queue`` of a listening socket in /proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                return int(fields[4].split(":")[1], 16)
    raise AssertionError("no listener on 127.0.0.1:%d" % port)
