"""Where a static URL leads: mounts (URL prefix -> directory) and the safe
resolution of a request path to a regular file inside its directory.

Sans-I/O as far as the network goes: it reads the file system (``stat``,
``realpath``) and never a socket. ``parse_mount("/static/=staticfiles")``
makes a ``Mount``; ``Mounts.match(path)`` finds the mount whose prefix the
raw request path starts with (the longest one) and the rest of the path;
``resolve(mount, rest)`` returns the real path of the file (and
``resolve_sibling`` that of its ``.br``/``.gz`` sibling), or raises
``NotFound`` for anything that is not a plain file inside the directory:

- a percent-encoded slash, backslash or NUL (``%2f``, ``%5c``, ``%00``), a
  malformed escape or a path that is not UTF-8;
- after decoding: a NUL, a backslash, an empty segment (``//``), a segment
  that is ``.`` or ``..`` or starts with a dot (dotfiles, ``.git``, and so
  encoded dots too: they are decoded first);
- a directory (never a listing), a device, a missing file;
- a symbolic link (anywhere on the way) whose target lies outside the
  directory, unless the mount follows symlinks.
"""

import os
import stat
from urllib.parse import unquote_to_bytes

from appserver.errors import ConfigError


class NotFound(Exception):
    """The path names no file this mount serves; ``why`` says which rule."""

    def __init__(self, why):
        super().__init__(why)
        self.why = why


class Mount:
    """A URL prefix (ends with ``/``) served from a directory."""

    __slots__ = ("prefix", "directory", "root", "follow_symlinks")

    def __init__(self, prefix, directory, follow_symlinks=False):
        self.prefix = prefix
        self.directory = directory
        self.root = os.path.realpath(directory)
        self.follow_symlinks = follow_symlinks

    def __repr__(self):
        return "<Mount %s=%s>" % (self.prefix, self.directory)


def parse_mount(value, follow_symlinks=False, base=""):
    """``URL_PREFIX=DIR`` -> ``Mount``; ``ConfigError`` saying what to write
    when malformed. A relative DIR is taken from ``base``, by default the
    working directory (after ``chdir``)."""
    prefix, sep, directory = value.partition("=")
    prefix, directory = prefix.strip(), directory.strip()
    if not sep or not prefix.startswith("/") or not directory:
        raise ConfigError("static: expected URL_PREFIX=DIR, e.g. /static/=staticfiles; "
                          "got %r" % value)
    if "%" in prefix or "?" in prefix or "#" in prefix:
        raise ConfigError("static: the URL prefix %r must be a plain path "
                          "(no %%, ? or #)" % prefix)
    if not prefix.endswith("/"):
        prefix += "/"
    return Mount(prefix, os.path.join(base, directory), follow_symlinks)


class Mounts:
    """Every mount of a server; ``match`` tries the longest prefix first."""

    __slots__ = ("mounts", "prefixes")

    def __init__(self, mounts):
        self.mounts = sorted(mounts, key=lambda m: len(m.prefix), reverse=True)
        self.prefixes = tuple(m.prefix for m in self.mounts)

    def __bool__(self):
        return bool(self.mounts)

    def match(self, path):
        """``(mount, rest)`` for a raw request path under a prefix, else None."""
        if not path.startswith(self.prefixes):
            return None
        for mount in self.mounts:
            if path.startswith(mount.prefix):
                return mount, path[len(mount.prefix):]
        return None


_FORBIDDEN_ESCAPES = ("%2f", "%5c", "%00")


def decode(rest):
    """The decoded segments of the part of a path after its prefix."""
    lowered = rest.lower()
    if any(escape in lowered for escape in _FORBIDDEN_ESCAPES):
        raise NotFound("an encoded slash, backslash or NUL")
    try:
        text = unquote_to_bytes(rest).decode("utf-8")
    except UnicodeDecodeError:
        raise NotFound("a path that is not UTF-8") from None
    if "\x00" in text or "\\" in text:
        raise NotFound("a NUL or a backslash")
    segments = text.split("/")
    for segment in segments:
        if not segment:
            raise NotFound("an empty segment or a directory")
        if segment[0] == ".":
            raise NotFound("a dot segment or a dotfile")
    return segments


def resolve(mount, rest):
    """The real path and ``os.stat_result`` of the regular file ``rest``
    (the raw path after the prefix) names in ``mount``; raises ``NotFound``."""
    segments = decode(rest)
    return resolve_segments(mount, segments)


def resolve_segments(mount, segments):
    """As ``resolve``, from decoded and checked segments."""
    joined = os.path.join(mount.root, *segments)
    real = os.path.realpath(joined)
    if not mount.follow_symlinks and not _inside(real, mount.root):
        raise NotFound("a symbolic link leading outside the directory")
    try:
        info = os.stat(real)
    except (OSError, ValueError):
        raise NotFound("no such file") from None
    if not stat.S_ISREG(info.st_mode):
        raise NotFound("not a regular file")
    return real, info


def resolve_sibling(mount, segments, real, suffix):
    """As ``resolve_segments`` for the file's name plus ``suffix`` (its
    precompressed sibling), given the file's own ``real`` path. When that
    path has no symbolic link on the way (it is its own real path), neither
    has the sibling's directory: one ``lstat`` then says all."""
    joined = os.path.join(mount.root, *segments)
    if real == joined:
        try:
            info = os.lstat(joined + suffix)
        except (OSError, ValueError):
            raise NotFound("no such file") from None
        if stat.S_ISREG(info.st_mode):
            return joined + suffix, info
        if not stat.S_ISLNK(info.st_mode):
            raise NotFound("not a regular file")
    return resolve_segments(mount, segments[:-1] + [segments[-1] + suffix])


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
