"""How many workers ``--workers auto`` means on this machine or in this container.

Contract: ``auto_workers(...)`` returns ``(n, explanation)``. It counts the
CPUs this process may use, the fewest of:

* the CPU count: ``cpu_count`` if given, else ``os.sched_getaffinity(0)``
  (which already reflects ``taskset`` and the cpuset), else ``os.cpu_count()``;
* the cpuset: cgroup v2 ``cpuset.cpus.effective`` or cgroup v1
  ``cpuset.effective_cpus`` (a list like ``0-3,8``);
* the CPU quota: cgroup v2 ``cpu.max`` (``QUOTA PERIOD``, or ``max PERIOD``
  for none) or cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``
  (``-1`` for none), rounded up to whole CPUs;

and takes ``2 * cpus + 1`` workers (a sync worker leaves its CPU idle while
its request waits on a database or an API; about two workers per CPU keep it
busy). That number is then bounded by the memory limit, cgroup v2
``memory.max`` or cgroup v1 ``memory.limit_in_bytes`` (a value near 2**63
is no limit), divided by ``per_worker_mib`` (128 MiB unless told), and is
never below 1. A limit applies if it is set on the process's own cgroup or
on any ancestor up to the mount point: for cgroup v2 the ``0::/path`` line of
``proc_self_cgroup`` under ``cgroup_root``; for cgroup v1 the controller's
line (``4:cpu,cpuacct:/path``) under ``cgroup_root/cpu,cpuacct`` (or
``cgroup_root/cpu``). The smallest limit wins, the innermost cpuset. A path
that is not there (a container's own cgroup namespace) means the mount point
itself. Missing or unreadable files mean "no limit". ``explanation`` names
every input that was found (by file name), for the start log. When memory
allows fewer workers than the CPUs could keep busy and ``threads`` is 1, it
ends with a suggestion: the fewest ``--threads`` with which those workers
run at least as many requests at once, for a thread-safe app that waits on
I/O.

``resolve_workers(value, threads)`` turns the ``workers`` setting (an int,
or ``"auto"``) into ``(n, explanation or None)``.
"""

import math
import os

DEFAULT_PER_WORKER_MIB = 128
CGROUP_ROOT = "/sys/fs/cgroup"
PROC_SELF_CGROUP = "/proc/self/cgroup"
AUTO = "auto"


def resolve_workers(value, threads=1, **probe):
    """``(n, explanation)`` for ``"auto"`` (``threads`` and ``probe`` go to
    ``auto_workers``), else ``(int(value), None)``."""
    if value == AUTO:
        return auto_workers(threads=threads, **probe)
    return int(value), None


def auto_workers(cgroup_root=CGROUP_ROOT, cpu_count=None,
                 per_worker_mib=DEFAULT_PER_WORKER_MIB,
                 proc_self_cgroup=PROC_SELF_CGROUP, threads=1):
    """``(workers, explanation)``; see the module comment."""
    tree = Cgroups(cgroup_root, proc_self_cgroup)
    cpus, cpu_notes = _usable_cpus(tree, cpu_count)
    wanted = 2 * cpus + 1
    notes = ["2 x %d CPUs + 1 = %d" % (cpus, wanted)]
    n = wanted
    memory = tree.smallest(MEMORY_LIMIT)
    if memory is not None:
        limit, name = memory
        allowed = max(1, limit // (per_worker_mib << 20))
        notes.append("%s %d MiB / %d MiB per worker allows %d"
                     % (name, limit >> 20, per_worker_mib, allowed))
        n = min(n, allowed)
    else:
        notes.append("no memory limit")
    explanation = "workers auto: %d (%s; %s)" % (n, "; ".join(notes), ", ".join(cpu_notes))
    if n < wanted and threads == 1:
        suggested = math.ceil(wanted / n)
        explanation += (". Memory allows fewer workers than the CPUs could keep busy "
                        "(%d): if the app is thread-safe and waits on I/O, --threads %d "
                        "lets the %d workers run %d requests at once (docs/threads.md)"
                        % (wanted, suggested, n, n * suggested))
    return n, explanation


def _usable_cpus(tree, cpu_count):
    """The fewest CPUs allowed by the count, the cpuset and the quota."""
    counted = cpu_count if cpu_count is not None else _online_cpus()
    cpus, notes = max(1, counted), ["%d CPUs online" % counted]
    cpuset = tree.innermost(CPUSET)
    if cpuset is not None:
        notes.append("%s allows %d" % (cpuset[1], cpuset[0]))
        cpus = min(cpus, cpuset[0])
    quota = tree.smallest(CPU_QUOTA)
    if quota is not None:
        whole = max(1, math.ceil(quota[0] - 1e-9))
        notes.append("%s quota %g CPUs allows %d" % (quota[1], quota[0], whole))
        cpus = min(cpus, whole)
    else:
        notes.append("no CPU quota")
    return cpus, notes


def _online_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Cgroups:
    """Where this process's limits live: its cgroup v2 directory and
    ancestors, and for each cgroup v1 controller its hierarchy's directory
    and ancestors (innermost first, each ending with its mount point)."""

    def __init__(self, cgroup_root=CGROUP_ROOT, proc_self_cgroup=PROC_SELF_CGROUP):
        self.root = cgroup_root
        self.lines = _cgroup_lines(_read(proc_self_cgroup) or "")
        self.v2 = cgroup_dirs(cgroup_root, proc_self_cgroup)

    def dirs(self, controller):
        """The directories to look in for ``controller`` (None: cgroup v2)."""
        if controller is None:
            return self.v2
        for controllers, path in self.lines:
            if controller in controllers:
                mount = _v1_mount(self.root, controllers, controller)
                return _ancestry(mount, path) if mount else []
        mount = _v1_mount(self.root, (controller,), controller)
        return [mount] if mount else []

    def smallest(self, limit):
        """``(value, file name)`` of the smallest ``limit`` found, or None."""
        found = [(value, name) for controller, name, parse in limit
                 for value in self._values(controller, parse)]
        return min(found) if found else None

    def innermost(self, limit):
        """``(value, file name)`` from the innermost cgroup that sets it."""
        for controller, name, parse in limit:
            values = self._values(controller, parse)
            if values:
                return values[0], name
        return None

    def _values(self, controller, parse):
        values = [parse(lambda name, d=d: _read(os.path.join(d, name)))
                  for d in self.dirs(controller)]
        return [v for v in values if v is not None]


def _cgroup_lines(text):
    """``/proc/self/cgroup`` cgroup v1 lines as ``[(controllers, path)]``."""
    found = []
    for line in text.splitlines():
        number, _, rest = line.partition(":")
        controllers, sep, path = rest.partition(":")
        if sep and number != "0" and controllers:
            found.append((tuple(controllers.split(",")), path))
    return found


def _v1_mount(root, controllers, controller):
    """The mount point of a cgroup v1 hierarchy (``cpu,cpuacct`` or ``cpu``)."""
    for name in (",".join(controllers), controller):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            return path
    return None


def _ancestry(mount, relative):
    """``mount/relative`` and its parents up to ``mount``, innermost first;
    just ``[mount]`` if that path is not there (a cgroup namespace)."""
    relative = relative.strip("/")
    dirs = [mount]
    for part in relative.split("/") if relative else ():
        dirs.append(os.path.join(dirs[-1], part))
    if not os.path.isdir(dirs[-1]):
        return [mount]
    return dirs[::-1]


def cgroup_dirs(cgroup_root=CGROUP_ROOT, proc_self_cgroup=PROC_SELF_CGROUP):
    """This process's cgroup v2 directory and its ancestors, innermost first,
    ending with ``cgroup_root``. Just ``[cgroup_root]`` if the path is unknown
    or not mounted there (a container with its own cgroup namespace)."""
    return _ancestry(cgroup_root, _own_cgroup(proc_self_cgroup))


def _own_cgroup(proc_self_cgroup):
    """The path of the ``0::PATH`` (cgroup v2) line, or ``""``."""
    text = _read(proc_self_cgroup) or ""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def parse_cpu_max(text):
    """``cpu.max`` (``"200000 100000"``) as CPUs (2.0); None for ``max``/unreadable."""
    fields = (text or "").split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields) or int(fields[1]) == 0:
        return None
    return int(fields[0]) / int(fields[1])


def parse_cpuset(text):
    """How many CPUs a cpuset list (``"0-3,8"``) holds; None if empty or bad."""
    cpus = set()
    for part in (text or "").strip().split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            return None
        cpus.update(range(int(low), int(high if dash else low) + 1))
    return len(cpus) or None


def parse_memory_max(text):
    """``memory.max`` in bytes; None for ``max`` or unreadable."""
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


# A v1 memory limit this high is "no limit" (the page counter's maximum).
_V1_NO_MEMORY_LIMIT = 1 << 62


def parse_cfs_quota(quota_us, period_us):
    """cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` as CPUs; None
    for ``-1`` (no quota) or unreadable."""
    quota, period = (quota_us or "").strip(), (period_us or "").strip()
    if not (quota.isdigit() and period.isdigit()) or int(period) == 0:
        return None
    return int(quota) / int(period)


def parse_v1_memory_limit(text):
    """cgroup v1 ``memory.limit_in_bytes`` in bytes; None when unlimited."""
    value = parse_memory_max(text)
    return value if value is not None and value < _V1_NO_MEMORY_LIMIT else None


# Each limit: where to look, as (controller or None for cgroup v2, the file
# named in the log, how to read it from a directory).
CPU_QUOTA = (
    (None, "cpu.max", lambda read: parse_cpu_max(read("cpu.max"))),
    ("cpu", "cpu.cfs_quota_us", lambda read: parse_cfs_quota(
        read("cpu.cfs_quota_us"), read("cpu.cfs_period_us"))),
)
CPUSET = (
    (None, "cpuset.cpus.effective", lambda read: parse_cpuset(read("cpuset.cpus.effective"))),
    ("cpuset", "cpuset.effective_cpus",
     lambda read: parse_cpuset(read("cpuset.effective_cpus"))),
)
MEMORY_LIMIT = (
    (None, "memory.max", lambda read: parse_memory_max(read("memory.max"))),
    ("memory", "memory.limit_in_bytes",
     lambda read: parse_v1_memory_limit(read("memory.limit_in_bytes"))),
)
