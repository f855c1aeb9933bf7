"""``--reload`` (development): a worker watches the files it has loaded.

Only a worker knows which modules the app imported, including those imported
lazily on a first request (Django's views), wherever they live; so each
worker watches its own. ``Watcher(extra_globs, on_change)``: ``check(now)``,
called from the worker loop, at most once a second stats the source files of
``sys.modules`` (minus the standard library and appserver itself, which a
reload does not replace) and the files matching ``extra_globs``. When one
changed, appeared (for a glob) or vanished, it logs which and calls
``on_change`` once for that change; the worker's ``on_change`` raises the
reload flag of its scoreboard slot, and the arbiter answers with a graceful
HUP-style reload (``appserver.arbiter.monitor``). The old workers keep serving until
new ones have booted, so new code that fails to import is logged and changes
nothing. Cost: a few thousand ``stat`` calls a second, only with ``reload``.
"""

import glob
import logging
import os
import sys
import sysconfig

log = logging.getLogger("appserver")

INTERVAL = 1.0
_SKIP = tuple(os.path.join(p, "") for p in {
    sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
_OWN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")


def module_files(modules=None):
    """Source files of the loaded modules worth watching."""
    files = set()
    for module in list((modules or sys.modules).values()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        path = os.path.abspath(path)
        if path.endswith((".pyc", ".pyo")):
            path = path[:-1]
        if path.startswith(_SKIP) or path.startswith(_OWN):
            continue
        files.add(path)
    return files


def glob_files(patterns, cwd=None):
    """Files matching the ``reload-extra-file`` patterns (``**`` recurses)."""
    files = set()
    for pattern in patterns:
        if cwd and not os.path.isabs(pattern):
            pattern = os.path.join(cwd, pattern)
        files.update(os.path.abspath(p) for p in glob.glob(pattern, recursive=True)
                     if os.path.isfile(p))
    return files


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class Watcher:
    """Stat the watched files once a second; report a change once."""

    def __init__(self, extra_globs, on_change, cwd=None):
        self.extra_globs = tuple(extra_globs)
        self.on_change = on_change
        self.cwd = cwd
        self.next_check = 0.0
        self.module_count = 0
        self.mtimes = {}
        self._scan_new(initial=True)

    def _scan_new(self, initial=False):
        """Watch files not watched yet: a module just imported is no change,
        a new file matching a glob is (unless this is the first scan)."""
        if len(sys.modules) != self.module_count:
            self.module_count = len(sys.modules)
            for path in module_files() - self.mtimes.keys():
                self.mtimes[path] = _mtime(path)
        if self.extra_globs:
            for path in glob_files(self.extra_globs, self.cwd) - self.mtimes.keys():
                self.mtimes[path] = _mtime(path) if initial else None

    def check(self, now):
        """Call ``on_change`` if a watched file changed since the last check."""
        if now < self.next_check:
            return False
        self.next_check = now + INTERVAL
        self._scan_new()
        changed = []
        for path, seen in self.mtimes.items():
            current = _mtime(path)
            if current != seen:
                self.mtimes[path] = current
                changed.append(path)
        if not changed:
            return False
        log.info("Reload: %s changed%s", changed[0],
                 " (and %d more)" % (len(changed) - 1) if len(changed) > 1 else "")
        self.on_change()
        return True
