"""The process harness shared by every functional test folder.

Contract: each module owns one part; tests import from the module.

* ``procfs``: what /proc says of a process (state, start time, children,
  descendants, parent, command line, open files) and of a listening port
  (its accept queue).
* ``process``: ``Proc``, any command run as a process tree in its own
  session, logs to files, stopped by pid; ``wait_until``, the one bounded
  poll; ``app_env``, ``free_port``, ``short_tmpdir``, ``wait_listening``,
  ``Subreaper``.
* ``server``: ``Server``, the ``appserver`` command started on port 0 or a
  unix socket, ready once its log says so, with its clients.
* ``clients``: ``http.client`` over TCP or a unix socket, a strict HTTP/1.x
  response reader, raw requests read until the server closes.
* ``load``: ``Load``, a bounded stream of requests from client threads.
* ``notify``: ``NotifyListener``, a ``NOTIFY_SOCKET`` that knows each
  sender's pid.
"""
