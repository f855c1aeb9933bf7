"""USR2 upgrades: start a new arbiter that inherits the listening sockets.

The old arbiter calls ``spawn_new_arbiter``: it forks a child that makes the
listening sockets inheritable and execs the same command (``python -m
appserver`` with the original arguments, from the original directory), with
``APPSERVER_LISTEN_FDS`` naming the descriptors (``FD`` or ``FD=PATH`` for
a unix socket file the new arbiter must remove when it stops) and
``APPSERVER_UPGRADE_FROM`` the old arbiter's pid. The new arbiter calls
``inherited_fds`` instead of binding, and ``old_arbiter`` to know whom to
hand over to once its workers are ready.
"""

import os
import sys

FDS_VAR = "APPSERVER_LISTEN_FDS"
FROM_VAR = "APPSERVER_UPGRADE_FROM"


def spawn_new_arbiter(listeners, cwd, argv=None, passed=((), {})):
    """Fork and exec a new arbiter; returns its pid (in the old arbiter).
    ``passed`` is ``(fds, variables)``: more descriptors it inherits and the
    variables that name them (the workers' hand-off pair, so connections the
    old workers pass on as they stop reach the new workers)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra_fds, extra_env = passed
    env = dict(os.environ, **extra_env)
    keep = [listener.fileno() for listener in listeners] + list(extra_fds)
    env[FDS_VAR] = ",".join("%d=%s" % (listener.fileno(), listener.owned_path)
                            if listener.owned_path else str(listener.fileno())
                            for listener in listeners)
    env[FROM_VAR] = str(os.getpid())
    pid = os.fork()
    if pid:
        return pid
    try:
        if "WATCHDOG_USEC" in env:
            env["WATCHDOG_PID"] = str(os.getpid())     # exec keeps this pid
        for fd in keep:
            os.set_inheritable(fd, True)
        os.chdir(cwd)
        os.execvpe(sys.executable, [sys.executable, "-m", "appserver"] + argv, env)
    finally:
        os._exit(127)


def inherited_fds(environ=None):
    """``[(fd, owned_path or None)]`` passed by an old arbiter, or None."""
    environ = os.environ if environ is None else environ
    value = environ.pop(FDS_VAR, None)
    if not value:
        return None
    found = []
    for item in value.split(","):
        fd, _, path = item.partition("=")
        found.append((int(fd), path or None))
    return found


def old_arbiter(environ=None):
    """The pid of the arbiter that started this one by USR2, or None."""
    environ = os.environ if environ is None else environ
    value = environ.pop(FROM_VAR, None)
    return int(value) if value and value.isdigit() else None
