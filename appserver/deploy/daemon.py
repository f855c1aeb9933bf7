"""Process duties of the arbiter: daemonizing, dropping privileges, umask.

``daemonize()`` detaches from the terminal (double fork, new session, stdin
from /dev/null; stdout/stderr go to /dev/null unless they are files).
``switch_user(user, group, initgroups)`` drops root to the given user and
group after the sockets are bound. Each failure is a ``ConfigError`` that
says what to change.
"""

import grp
import os
import pwd

from appserver.errors import ConfigError


def daemonize():
    """Detach from the controlling terminal and run in the background."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    for fd in (1, 2):
        if os.isatty(fd):
            os.dup2(null, fd)
    os.close(null)


def set_umask(value):
    """Apply ``umask`` given as an octal string ("022") or an int."""
    mask = parse_umask(value)
    if mask is not None:
        os.umask(mask)


def parse_umask(value):
    """``umask`` as a number (None stays None); ``ConfigError`` if malformed."""
    if value is None:
        return None
    try:
        return int(value, 8) if isinstance(value, str) else int(value)
    except ValueError:
        raise ConfigError("umask: expected an octal number like 022, got %r"
                          % (value,)) from None


def switch_user(user, group, initgroups):
    """Drop to ``user``/``group`` (names or numbers); no-op when both unset."""
    if user is None and group is None:
        return
    uid = _uid(user) if user is not None else os.getuid()
    gid = _gid(group) if group is not None else (
        pwd.getpwuid(uid).pw_gid if user is not None else os.getgid())
    try:
        if initgroups and user is not None:
            os.initgroups(pwd.getpwuid(uid).pw_name, gid)
        elif os.getuid() == 0:
            os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except (OSError, KeyError) as exc:
        raise ConfigError("cannot switch to user %s, group %s: %s (only root can "
                          "change user)" % (user, group, exc)) from None


def check_user(user, group):
    """Fail early (in the arbiter) when ``user`` or ``group`` does not exist."""
    if user is not None:
        _uid(user)
    if group is not None:
        _gid(group)


def _uid(user):
    try:
        return int(user) if str(user).isdigit() else pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ConfigError("user: no such user %r on this system" % user) from None


def _gid(group):
    try:
        return int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError("group: no such group %r on this system" % group) from None
