"""What a static URL resolved to, kept while the file system says it holds.

A ``FileCache`` maps a raw request path (exactly as requested, without
its query) to the ``Entry`` built when it was last resolved safely by
``appserver.static.paths``: the representations ``reply`` answers with (the
file and its precompressed siblings), their heads' fixed lines made once,
and the bytes of small files. Only paths that resolved to a file are kept;
anything refused or missing is resolved again on every request.

``get(key)`` returns an entry only when it is still valid, checked with one
``stat`` per path it depends on (no ``realpath``, no ``open``):

- the file's path as named (following symbolic links, as a request would)
  must still lead to the same file, unchanged: device, inode, size, mtime
  and ctime (which no one can set back; it moves on every write, ``chmod``,
  rename or link). A path component swapped for a symbolic link elsewhere
  leads to another inode, so the entry is dropped and the path resolved
  again with every rule; the cache never serves bytes of a file that did
  not pass them;
- each precompressed sibling likewise;
- the file's directory (mtime, ctime): a sibling made, renamed or moved
  there changes it. This one is looked at once per ``directory_every``
  seconds (1 s) rather than per request: a ``.br`` or ``.gz`` made after
  the file was first answered is chosen from at most that long after it
  appears (until then the file itself is sent, which every client
  accepts). A sibling already known is checked on every request like the
  file, so a changed or removed one is never sent.

``stat_key(info)`` is that identity; ``file_key(path)`` is the identity of
what ``path`` names now (``stat_key(os.stat(path))``, raising what
``os.stat`` raises): the C twin ``appserver.static._filekey`` when it was
built (it skips making the whole ``os.stat_result``, the larger part of the
check's cost), else ``file_key_python``. Bounded: at most ``MAX_ENTRIES``
entries, and ``MAX_BYTES`` bytes of cached file bodies (each at most
``MAX_BODY``); the oldest entries go first. ``read_small(path, key)`` reads a
small file whole, or returns None when it changed while being read.
"""

import os
import time

MAX_ENTRIES = 1024
MAX_BODY = 64 * 1024
MAX_BYTES = 16 * 1024 * 1024
DIRECTORY_EVERY = 1.0


def stat_key(info):
    """What says a file (or directory) is the same and unchanged."""
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def file_key_python(path):
    """``stat_key`` of what ``path`` names now (symbolic links followed)."""
    return stat_key(os.stat(path))


try:
    from appserver.static._filekey import file_key
except ImportError:         # not built (no compiler at install time)
    file_key = file_key_python


class Entry:
    """A resolved path: ``checks`` ((path, stat key) pairs of the file and
    its siblings, the file's own first), ``directory`` (the same pair for its
    directory, looked at once ``due`` has passed), and what ``reply`` keeps
    for it in ``identity`` and ``encoded`` (its representations), ``vary``
    and ``special`` (the request fields that may change its answer)."""

    __slots__ = ("checks", "directory", "due", "identity", "encoded", "vary", "size",
                 "special")

    def __init__(self, checks, directory, identity, encoded, vary, special=frozenset()):
        self.checks, self.directory, self.due = checks, directory, 0.0
        self.identity, self.encoded, self.vary = identity, encoded, vary
        self.special = special
        self.size = sum(len(rep.body) for rep in (identity,) + tuple(encoded)
                        if rep.body is not None)


class FileCache:
    """Entries by key, each checked against the file system when asked for."""

    def __init__(self, max_entries=MAX_ENTRIES, max_bytes=MAX_BYTES,
                 directory_every=DIRECTORY_EVERY):
        self.entries = {}
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.directory_every = directory_every
        self.bytes = 0

    def __len__(self):
        return len(self.entries)

    def get(self, key):
        """The entry for ``key`` when every path it depends on is unchanged."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        key_of = file_key
        try:
            for path, expected in entry.checks:
                if key_of(path) != expected:
                    break
            else:
                now = time.monotonic()
                if now < entry.due:
                    return entry
                path, expected = entry.directory
                if key_of(path) == expected:
                    entry.due = now + self.directory_every
                    return entry
        except (OSError, ValueError):
            pass
        self._drop(key)
        return None

    def put(self, key, entry):
        """Keep ``entry`` (making room by dropping the oldest ones)."""
        self._drop(key)
        if entry.size > self.max_bytes:
            return
        while self.entries and (len(self.entries) >= self.max_entries
                                or self.bytes + entry.size > self.max_bytes):
            self._drop(next(iter(self.entries)))
        entry.due = time.monotonic() + self.directory_every    # looked at as it resolved
        self.entries[key] = entry
        self.bytes += entry.size

    def _drop(self, key):
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size


def read_small(path, key):
    """The bytes of the file at ``path`` whose stat key was ``key``, or None
    when it is not that file any more or changed while it was read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        data = os.read(fd, key[2] + 1)
        if len(data) != key[2] or stat_key(os.fstat(fd)) != key:
            return None
        return data
    except OSError:
        return None
    finally:
        os.close(fd)
