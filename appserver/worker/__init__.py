"""The worker process and what it owns: see ``process`` (boot, loop, stop)."""

from appserver.worker.process import Worker

__all__ = ["Worker"]
