"""systemd integration: socket activation and ``sd_notify``; nothing else.

``listen_fds()`` returns the sockets systemd passed (``LISTEN_FDS`` starting at
fd 3, for ``LISTEN_PID`` == this process), named by ``LISTEN_FDNAMES``, and
removes those variables so children do not inherit them. ``Notifier`` sends
``sd_notify`` datagrams to ``NOTIFY_SOCKET`` (a path, or an abstract socket
written ``@name``); when the variable is unset every call is a no-op. It also
reports the watchdog interval (half of ``WATCHDOG_USEC``) when the watchdog is
meant for this process. ``forget_notify()`` removes the notify and watchdog
variables; a worker calls it right after the fork, so no app code can send
``READY=1`` or ``STOPPING=1`` in the arbiter's name (``NotifyAccess=all``).

A send waits at most ``SEND_TIMEOUT`` for room in the receiver's queue, so a
notify socket nobody reads never stalls the arbiter's loop; a message that
cannot go is logged with what systemd will miss because of it.
"""

import logging
import os
import socket
import time

log = logging.getLogger("appserver")
SEND_TIMEOUT = 1.0      # seconds a datagram may wait for room in the queue

SD_LISTEN_FDS_START = 3
_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
_NOTIFY_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def listen_fds(environ=None):
    """``[(fd, name)]`` passed by systemd to this process, else ``[]``."""
    environ = os.environ if environ is None else environ
    pid, count = environ.get("LISTEN_PID", ""), environ.get("LISTEN_FDS", "")
    names = environ.get("LISTEN_FDNAMES", "")
    for var in _VARS:
        environ.pop(var, None)
    if not (pid.isdigit() and count.isdigit()) or int(pid) != os.getpid():
        return []
    names = names.split(":") if names else []
    fds = range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(count))
    return [(fd, names[i] if i < len(names) else "unknown") for i, fd in enumerate(fds)]


def forget_notify(environ=None):
    """Remove ``NOTIFY_SOCKET`` and ``WATCHDOG_*`` (in a worker)."""
    environ = os.environ if environ is None else environ
    for var in _NOTIFY_VARS:
        environ.pop(var, None)


class Notifier:
    """``sd_notify`` to ``NOTIFY_SOCKET``; does nothing when it is not set."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address or None
        self.watchdog_interval = _watchdog_interval(environ)
        self._sock = None

    @property
    def enabled(self):
        return self.address is not None

    def send(self, *lines):
        """Send ``KEY=VALUE`` lines in one datagram; False if it could not go."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.settimeout(SEND_TIMEOUT)
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            log.warning("sd_notify to NOTIFY_SOCKET=%s failed (%s): systemd does not "
                        "get %s; check that the socket exists and its reader is alive",
                        self.address.replace("\0", "@", 1), exc or type(exc).__name__,
                        " ".join(lines))
            return False
        return True

    def reloading(self):
        """``RELOADING=1`` with the ``MONOTONIC_USEC`` that Type=notify-reload wants."""
        return self.send("RELOADING=1",
                         "MONOTONIC_USEC=%d" % (time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                                                // 1000))

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_interval(environ):
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 2e6
