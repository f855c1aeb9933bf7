"""Prerequisites of a benchmark run: tools present, CPUs to pin to.

Contract: ``missing(need_django)`` returns one message per missing
prerequisite, each saying how to install it (the harness installs nothing
itself): ``wrk`` (``apt-get install wrk``), Gunicorn (``pip install
gunicorn``), appserver, and Django when the ``django`` scenario is selected.
``pinning(wanted)`` returns ``(server_cpu, client_cpu, note)``: CPUs 0 and 1
when ``taskset`` exists, at least two CPUs are usable and pinning was
wanted, else ``(None, None, warning)``.
"""
import importlib.util
import os
import shutil


def _has_module(name):
    return importlib.util.find_spec(name) is not None


def missing(need_django):
    """Messages for every missing prerequisite (empty when all are there)."""
    out = []
    if shutil.which("wrk") is None:
        out.append("wrk is not installed: apt-get install wrk")
    if not _has_module("gunicorn"):
        out.append("Gunicorn is not installed: pip install gunicorn")
    if not _has_module("appserver"):
        out.append("appserver is not importable: pip install -e . (from the repository)")
    if need_django and not _has_module("django"):
        out.append("Django is not installed (django scenario): pip install -e '.[examples]'")
    return out


def usable_cpus():
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pinning(wanted=True):
    """(server_cpu, client_cpu, note) for taskset pinning."""
    if not wanted:
        return None, None, "not pinned (--no-pin)"
    if shutil.which("taskset") is None:
        return None, None, ("WARNING: taskset not found (util-linux), servers and "
                            "client are not pinned")
    cpus = usable_cpus()
    if len(cpus) < 2:
        return None, None, "WARNING: fewer than 2 CPUs usable, servers and client are not pinned"
    return cpus[0], cpus[1], "servers pinned to CPU %d, client to CPU %d" % (cpus[0], cpus[1])
