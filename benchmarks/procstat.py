"""Process accounting from /proc: CPU ticks of a process tree, RSS per worker.

Contract: every reader takes ``root`` (default ``/proc``) so it can run on a
fake tree. ``parse_stat(text)`` returns ``(ppid, utime, stime, cutime,
cstime)`` from a ``stat`` line (the command name may hold spaces and
parentheses). ``children(pid)`` lists child pids from
``task/*/children``, or, when the kernel has no such files, by scanning every
``<pid>/stat`` for the parent. ``tree_ticks(pid)`` sums utime+stime+cutime+
cstime over the process and all its live descendants (reaped children count
through their parent's cutime/cstime, so a worker that exits is not lost).
``vmrss_kib(text)`` reads ``VmRSS`` from a ``status`` text; ``worker_rss_kib``
returns it for each child of the arbiter. A process that vanishes while being
read counts as absent.
"""
import os

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def parse_stat(text):
    """(ppid, utime, stime, cutime, cstime) from a /proc/<pid>/stat line."""
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); ppid is field 4, utime..cstime 14..17.
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime, stime, cutime, cstime


def _children_files(pid, root):
    task_dir = os.path.join(root, str(pid), "task")
    try:
        tids = os.listdir(task_dir)
    except (FileNotFoundError, ProcessLookupError):
        return None
    texts = [_read(os.path.join(task_dir, t, "children")) for t in tids]
    if all(t is None for t in texts):
        return None
    return [int(p) for t in texts if t for p in t.split()]


def _children_scan(pid, root):
    found = []
    for name in os.listdir(root):
        if not name.isdigit():
            continue
        text = _read(os.path.join(root, name, "stat"))
        if text and parse_stat(text)[0] == pid:
            found.append(int(name))
    return found


def children(pid, root="/proc"):
    """Pids of the direct children of ``pid``."""
    found = _children_files(pid, root)
    return sorted(found if found is not None else _children_scan(pid, root))


def descendants(pid, root="/proc"):
    """``pid`` and every live descendant, parents first."""
    order, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        order.append(current)
        todo.extend(children(current, root))
    return order


def tree_ticks(pid, root="/proc"):
    """CPU clock ticks used by ``pid`` and its descendants (live and reaped)."""
    total = 0
    for p in descendants(pid, root):
        text = _read(os.path.join(root, str(p), "stat"))
        if text:
            total += sum(parse_stat(text)[1:])
    return total


def ticks_to_seconds(ticks, clk_tck=CLK_TCK):
    """Clock ticks to seconds."""
    return ticks / float(clk_tck)


def vmrss_kib(text):
    """The ``VmRSS`` value in KiB from a /proc/<pid>/status text, or None."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def worker_rss_kib(pid, root="/proc"):
    """RSS in KiB of each direct child (worker) of the arbiter ``pid``."""
    sizes = []
    for child in children(pid, root):
        text = _read(os.path.join(root, str(child), "status"))
        size = vmrss_kib(text) if text else None
        if size is not None:
            sizes.append(size)
    return sizes
