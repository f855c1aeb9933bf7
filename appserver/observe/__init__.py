"""What operators see: logs, metrics, status, the admin listener.

Worker side: ``observer`` (around each request: request id, access line,
counters, request hooks), ``accesslog``, ``logs``, ``requestid``,
``proctitle``; ``scoreboard`` is the shared memory each worker writes its
slot of (state, heartbeat, ``metrics`` counters). Arbiter side: ``status``
(the snapshot as the admin listener serves it), ``admin`` (that listener),
``statsd`` (the push); ``status_cli`` is ``appserver status``.
"""
