"""The pid file: refused when it names a live server, written atomically at
start, removed at exit if still ours.

``check(path)`` raises ``ConfigError`` when ``path`` names a running process
(another server) and ignores a stale file; ``write`` and ``remove`` follow.
"""

import os
import sys

from appserver.errors import ConfigError


def write(path, pid):
    """Write ``pid`` to ``path`` via a temporary file and a rename."""
    tmp = "%s.%d.tmp" % (path, pid)
    with open(tmp, "w") as f:
        f.write("%d\n" % pid)
    os.replace(tmp, path)


def remove(path, pid):
    """Remove ``path`` unless another process has written its own pid there."""
    try:
        with open(path) as f:
            content = f.read().strip()
        if content == str(pid):
            os.unlink(path)
    except (OSError, ValueError):
        pass


def check(path):
    """Refuse to start when ``path`` names a live process; ignore a stale one."""
    if not path:
        return
    try:
        with open(path) as f:
            pid = int(f.read().strip() or 0)
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        return
    if pid <= 0 or pid == os.getpid():
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    except PermissionError:
        pass
    sys.stderr.flush()
    raise ConfigError("pid file %s names process %d, which is running: is another "
                      "appserver using it? Stop it, or choose another --pid" % (path, pid))
