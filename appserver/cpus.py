"""How many workers ``--workers auto`` means on this machine or in this container.

Contract: ``auto_workers(...)`` returns ``(n, explanation)``. It counts the
CPUs this process may use, the fewest of:

* the CPU count: ``cpu_count`` if given, else ``os.sched_getaffinity(0)``
  (which already reflects ``taskset`` and the cpuset), else ``os.cpu_count()``;
* the cgroup v2 cpuset, ``cpuset.cpus.effective`` (a list like ``0-3,8``);
* the cgroup v2 CPU quota, ``cpu.max`` (``QUOTA PERIOD``, or ``max PERIOD``
  for none), rounded up to whole CPUs;

and takes ``2 * cpus + 1`` workers (a sync worker leaves its CPU idle while
its request waits on a database or an API; about two workers per CPU keep it
busy). That number is then bounded by the cgroup v2 memory limit,
``memory.max``, divided by ``per_worker_mib`` (128 MiB unless told), and is
never below 1. A limit applies if it is set on the process's own cgroup (read
from ``proc_self_cgroup``, the ``0::/path`` line) or on any ancestor up to
``cgroup_root``; the smallest one wins. Missing or unreadable files mean "no
limit". ``explanation`` names every input that was found, for the start log.

``resolve_workers(value)`` turns the ``workers`` setting (an int, or
``"auto"``) into ``(n, explanation or None)``.
"""

import math
import os

DEFAULT_PER_WORKER_MIB = 128
CGROUP_ROOT = "/sys/fs/cgroup"
PROC_SELF_CGROUP = "/proc/self/cgroup"
AUTO = "auto"


def resolve_workers(value, **probe):
    """``(n, explanation)`` for ``"auto"`` (``probe`` goes to ``auto_workers``),
    else ``(int(value), None)``."""
    if value == AUTO:
        return auto_workers(**probe)
    return int(value), None


def auto_workers(cgroup_root=CGROUP_ROOT, cpu_count=None,
                 per_worker_mib=DEFAULT_PER_WORKER_MIB,
                 proc_self_cgroup=PROC_SELF_CGROUP):
    """``(workers, explanation)``; see the module comment."""
    dirs = cgroup_dirs(cgroup_root, proc_self_cgroup)
    cpus, cpu_notes = _usable_cpus(dirs, cpu_count)
    wanted = 2 * cpus + 1
    notes = ["2 x %d CPUs + 1 = %d" % (cpus, wanted)]
    n = wanted
    memory = _smallest(dirs, "memory.max", parse_memory_max)
    if memory is not None:
        allowed = max(1, memory // (per_worker_mib << 20))
        notes.append("memory.max %d MiB / %d MiB per worker allows %d"
                     % (memory >> 20, per_worker_mib, allowed))
        n = min(n, allowed)
    else:
        notes.append("no memory limit")
    explanation = "workers auto: %d (%s; %s)" % (n, "; ".join(notes), ", ".join(cpu_notes))
    return n, explanation


def _usable_cpus(dirs, cpu_count):
    """The fewest CPUs allowed by the count, the cpuset and the quota."""
    counted = cpu_count if cpu_count is not None else _online_cpus()
    cpus, notes = max(1, counted), ["%d CPUs online" % counted]
    cpuset = _first(dirs, "cpuset.cpus.effective", parse_cpuset)
    if cpuset is not None:
        notes.append("cpuset.cpus.effective allows %d" % cpuset)
        cpus = min(cpus, cpuset)
    quota = _smallest(dirs, "cpu.max", parse_cpu_max)
    if quota is not None:
        whole = max(1, math.ceil(quota - 1e-9))
        notes.append("cpu.max quota %g CPUs allows %d" % (quota, whole))
        cpus = min(cpus, whole)
    else:
        notes.append("no CPU quota")
    return cpus, notes


def _online_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cgroup_dirs(cgroup_root=CGROUP_ROOT, proc_self_cgroup=PROC_SELF_CGROUP):
    """This process's cgroup v2 directory and its ancestors, innermost first,
    ending with ``cgroup_root``. Just ``[cgroup_root]`` if the path is unknown
    or not mounted there (a container with its own cgroup namespace)."""
    relative = _own_cgroup(proc_self_cgroup).strip("/")
    dirs = [cgroup_root]
    for part in relative.split("/") if relative else ():
        dirs.append(os.path.join(dirs[-1], part))
    if not os.path.isdir(dirs[-1]):
        return [cgroup_root]
    return dirs[::-1]


def _own_cgroup(proc_self_cgroup):
    """The path of the ``0::PATH`` (cgroup v2) line, or ``""``."""
    text = _read(proc_self_cgroup) or ""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""


def _smallest(dirs, name, parse):
    """The smallest limit ``name`` sets in any of ``dirs``, or None."""
    values = [parse(_read(os.path.join(d, name))) for d in dirs]
    values = [v for v in values if v is not None]
    return min(values) if values else None


def _first(dirs, name, parse):
    """The value of ``name`` in the innermost of ``dirs`` that has it."""
    for d in dirs:
        value = parse(_read(os.path.join(d, name)))
        if value is not None:
            return value
    return None


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
