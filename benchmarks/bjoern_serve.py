"""Serve a WSGI app with bjoern in pre-forked workers (bjoern has no arbiter).

Contract: ``python -m benchmarks.bjoern_serve --bind HOST:PORT --workers N
module:attr`` imports the app (the current directory first on ``sys.path``),
binds and listens once, forks N workers that each run bjoern's event loop on
the shared socket, and waits. On TERM or INT it sends TERM to every worker,
waits for them and exits 0; when a worker dies the others are stopped too and
it exits 1. Only the benchmark harness uses it.
"""
import argparse
import importlib
import os
import signal
import sys


def load(spec):
    module, _, attr = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module), attr or "application")


def fork_workers(count):
    import bjoern
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            bjoern.run()
            os._exit(0)
        pids.append(pid)
    return pids


def stop(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bjoern_serve")
    ap.add_argument("--bind", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("app")
    args = ap.parse_args(argv)
    import bjoern
    host, _, port = args.bind.rpartition(":")
    bjoern.listen(load(args.app), host, int(port))
    pids = fork_workers(args.workers)
    signal.signal(signal.SIGTERM, _stop_requested)
    signal.signal(signal.SIGINT, _stop_requested)
    try:
        pid, _ = os.wait()
    except StopRequested:
        stop(pids)
        return 0
    pids.remove(pid)
    stop(pids)
    return 1


class StopRequested(Exception):
    """TERM or INT arrived."""


def _stop_requested(signum, frame):
    raise StopRequested


if __name__ == "__main__":
    sys.exit(main())
