"""Hand waiting connections from a busy worker to a free one.

A sync worker running the app cannot notice a new request on its other
connections: idle keep-alive ones, and ones it accepted whose head is still
arriving or not yet dispatched. Such a request would wait behind the running
one even while another worker sits idle. The arbiter therefore creates one
unix datagram socket pair shared by every worker. A worker whose app call lasts
longer than ``HANDOFF_AFTER`` sends those connections into the pair (the
descriptor with ``SCM_RIGHTS``, plus the listener, peer, state, when that
state began, the address a PROXY header gave as the one the client dialled,
and the bytes already read and not yet consumed) and forgets
them. The receiving end sits in every
worker's epoll set with ``EPOLLEXCLUSIVE``, like a listening socket: only a
worker waiting in its loop, so a free one, takes them and carries on with
each exactly where the busy worker left it. Busy workers never take any.

A retiring worker (``appserver.worker.process``) passes every connection it
holds between requests the same way before it exits. After a USR2 upgrade the
new arbiter uses the old arbiter's pair (``to_env`` / ``from_env``), so the
old generation's connections reach the new one's workers, and the new
generation's reach any worker of either while both run.

A message is one line of fields separated by NUL, then the unread bytes: the
listener, state, since, peer host and port, and, only for a connection that
came with a PROXY header, the destination host and port. A reader takes the
fields it knows and ignores more. Releases before the destination fields
read exactly five, so the variable names the format after the descriptors
(``R,W,v2``); a predecessor that does not (``R,W``) is taken to read five,
and while its arbiter lives no connection with a destination is given: it
stays in its worker (``give`` returns False). A message a worker cannot read
closes that connection, with a warning, and the worker carries on.
"""

import logging
import os
import socket

from appserver.net.connection import State

log = logging.getLogger("appserver")

HANDOFF_AFTER = 0.01        # seconds an app call runs before connections move
HANDOFF_TICK = HANDOFF_AFTER / 2   # how often a busy worker checks
MAX_HEAD_BYTES = 60000      # a longer partial head stays where it is
_MAX_PAYLOAD = MAX_HEAD_BYTES + 512
ENV_VAR = "APPSERVER_HANDOFF_FDS"
FORMAT = "v2"               # after the descriptors: the destination fields are read


class Moved:
    """A connection as received from another worker."""

    __slots__ = ("sock", "listener_fd", "peer", "state", "since", "head", "dest")

    def __init__(self, sock, listener_fd, peer, state, since, head, dest=None):
        self.sock, self.listener_fd, self.peer = sock, listener_fd, peer
        self.state, self.since, self.head, self.dest = state, since, head, dest


class Pair(tuple):
    """The two ends ``(send, receive)``; ``legacy_reader`` is the pid of a
    predecessor arbiter whose workers read only the first five fields."""

    legacy_reader = None


def create_pair():
    """The shared pair, made by the arbiter before forking."""
    pair = Pair(socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))
    for sock in pair:
        sock.setblocking(False)
    return pair


def to_env(pair):
    """``(name, value)`` of the variable that passes ``pair`` to a new
    arbiter (USR2); the caller makes both descriptors inheritable. An older
    successor cannot read the format tag and makes its own pair."""
    return ENV_VAR, "%d,%d,%s" % (pair[0].fileno(), pair[1].fileno(), FORMAT)


def from_env(environ=None, predecessor=None):
    """The pair an old arbiter (pid ``predecessor``) passed on, or None."""
    environ = os.environ if environ is None else environ
    value = environ.pop(ENV_VAR, None)
    if not value:
        return None
    items = value.split(",")
    try:
        pair = Pair(socket.socket(fileno=int(fd)) for fd in items[:2])
    except (ValueError, OSError):
        return None
    for sock in pair:
        sock.setblocking(False)
        os.set_inheritable(sock.fileno(), False)
    if items[2:] != [FORMAT]:
        pair.legacy_reader = predecessor
    return pair


class Handoff:
    """One worker's view of the shared pair."""

    def __init__(self, pair):
        self.send_sock, self.recv_sock = pair
        self.legacy_reader = getattr(pair, "legacy_reader", None)

    def fileno(self):
        return self.recv_sock.fileno()

    def can_carry(self, unread):
        """Whether a connection holding ``unread`` bytes fits in the pair."""
        return unread <= MAX_HEAD_BYTES

    def give(self, fd, listener_fd, state, since, peer, head, dest=None):
        """Pass a connection on (``Connection.pass_on`` calls this, once
        ``can_carry`` said its head fits); False if the pair is full.
        ``dest`` is the ``(ip, port)`` from its PROXY header, or None."""
        if dest is not None and self.legacy_reader is not None:
            if _alive(self.legacy_reader):
                return False        # its workers could not read the destination
            self.legacy_reader = None
        host, port = peer[:2] if peer else ("", -1)
        meta = "%d\0%s\0%r\0%s\0%d" % (listener_fd, state, since, host, port)
        if dest is not None:        # only then: the fields are as they always were
            meta += "\0%s\0%d" % dest
        meta += "\n"
        try:
            socket.send_fds(self.send_sock, [meta.encode() + head], [fd])
        except OSError:             # the pair is full, or anything else: it stays
            return False
        return True

    def take(self, limit):
        """Up to ``limit`` ``Moved`` connections waiting in the pair."""
        taken = []
        while len(taken) < limit:
            try:
                payload, fds, _, _ = socket.recv_fds(self.recv_sock, _MAX_PAYLOAD, 1)
            except (BlockingIOError, InterruptedError):
                break
            if fds:
                moved = _decode(payload, fds[0])
                if moved is not None:
                    taken.append(moved)
        return taken


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                 # EPERM: it exists
        pass
    return True


def _decode(payload, fd):
    """The ``Moved`` connection of one message; None (the connection closed)
    when the message cannot be read."""
    try:
        return _fields(payload, fd)
    except (ValueError, IndexError, UnicodeDecodeError) as err:
        os.close(fd)
        log.warning("Closed a connection handed over by another worker: its "
                    "message could not be read (%s); a worker of another "
                    "release may have sent it", err)
        return None


def _fields(payload, fd):
    meta, _, head = payload.partition(b"\n")
    fields = meta.decode().split("\0")
    listener_fd, state, since, host, port = fields[:5]
    State(state)                    # one this release knows, or ValueError
    peer = (host, int(port)) if int(port) >= 0 else ""
    dest = (fields[5], int(fields[6])) if len(fields) >= 7 else None
    return Moved(socket.socket(fileno=fd), int(listener_fd), peer, state,
                 float(since), head, dest)
