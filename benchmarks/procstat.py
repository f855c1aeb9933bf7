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

The same CPU time seen from the CPU instead of the processes:
``cpu_lines(text)`` reads the per-CPU lines of a ``/proc/stat`` text into
``{cpu number: {field: ticks}}`` (fields ``STAT_FIELDS``; a kernel that
prints fewer columns gives fewer fields); ``busy_ticks(fields)`` is the time
the CPU was busy (``BUSY_FIELDS``: user, nice, system, irq and softirq, so
neither idle nor iowait; steal is time the hypervisor took, not this CPU's
work); ``cpu_busy_ticks(cpu)`` reads it for one CPU (None when the kernel
lists no such CPU). On loopback much of a connection's TCP work runs in
softirq context, which the kernel charges to whichever task the CPU was
running (the server, or the load client on its CPU) or, when the CPU was
idle, to no process at all (and ksoftirqd's share to ksoftirqd): the busy
time of the server's pinned CPU counts it wherever it went on that CPU.
"""
import os

STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")
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


def cpu_lines(text):
    """{cpu number: {field: ticks}} from the ``cpuN`` lines of /proc/stat."""
    found = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if name.startswith("cpu") and name[3:].isdigit():
            found[int(name[3:])] = dict(zip(STAT_FIELDS, (int(x) for x in rest.split())))
    return found


def busy_ticks(fields):
    """Ticks a CPU was busy: user + nice + system + irq + softirq."""
    return sum(fields.get(name, 0) for name in BUSY_FIELDS)


def cpu_busy_ticks(cpu, root="/proc"):
    """Busy ticks of CPU number ``cpu`` since boot, or None when it is not listed."""
    text = _read(os.path.join(root, "stat"))
    fields = cpu_lines(text).get(cpu) if text else None
    return busy_ticks(fields) if fields is not None else None
