"""The pid file: written atomically at start, removed at exit if still ours."""

import os


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
