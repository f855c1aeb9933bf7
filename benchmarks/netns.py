"""A fresh network namespace per measured run, so runs do not share TCP state.

Contract: ``probe()`` returns ``(True, note)`` when this process may create
network namespaces (Linux, root or CAP_SYS_ADMIN), else ``(False, reason)``;
it creates and leaves one to find out. ``fresh_loopback()`` is a context
manager: inside it this process (and every child it starts) is in a new
network namespace whose only interface, loopback, is up; on exit the process
is back in the namespace it came from, and the kernel discards the new one,
with every socket left in it, once its last process is gone. Only
single-threaded callers: the switch is per thread.

Why: a ``Connection: close`` run leaves tens of thousands of sockets in
TIME_WAIT for 60 s. Sharing one loopback, later runs pay for the earlier
ones (longer lookups, a full ``tcp_max_tw_buckets`` table), so the order of
the runs would weigh on the figures. A namespace of their own gives every
run, of either server, the same empty TCP tables.
"""
import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: name, ifr_flags


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _call(name, *args):
    func = getattr(os, name, None)     # os.unshare / os.setns: Python 3.12+
    if func is not None:
        func(*args)
        return
    if getattr(_libc(), name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (name, os.strerror(err)))


def _loopback_up():
    """Set ``lo`` up in the current namespace (what ``ip link set lo up`` does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = _IFREQ.unpack(fcntl.ioctl(s, SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | IFF_UP))


@contextlib.contextmanager
def fresh_loopback():
    """Run the block in a new network namespace with loopback up."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        _call("unshare", CLONE_NEWNET)
        try:
            _loopback_up()
            yield
        finally:
            _call("setns", home, CLONE_NEWNET)
    finally:
        os.close(home)


def probe():
    """(usable, note): can this process give each run its own namespace?"""
    if not os.path.exists("/proc/self/ns/net"):
        return False, "no network namespaces on this system"
    try:
        with fresh_loopback():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
    except OSError as exc:
        return False, "no network namespace per run (%s; run as root for one)" % exc
    return True, "each run in a fresh network namespace (its own loopback)"
