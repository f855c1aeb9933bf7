"""The arbiter: the master process that binds, forks and supervises workers.

``process`` is the life cycle and the loop (``Arbiter``), ``pool`` the worker
table (fork, reap, retire, kill), ``plan`` the pure decisions; ``monitor``,
``readiness`` and ``reload`` watch and report. ``Arbiter(cfg).run()`` is the
entry point.
"""

from appserver.arbiter.pool import HANDLED
from appserver.arbiter.process import Arbiter

__all__ = ["Arbiter", "HANDLED"]
