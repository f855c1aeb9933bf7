"""A fake ``NOTIFY_SOCKET`` for the tests that play the service manager.

Contract: ``NotifyListener(address)`` binds an ``AF_UNIX`` datagram socket at
a path or at an abstract ``@name`` with ``SO_PASSCRED``, so each
``sd_notify`` message comes with the sender's pid. ``wait_for(key)``
returns the next message holding ``key`` (and ``value``, if given),
bounded; ``drain(seconds)`` what arrives in that time; every message
received is kept in ``messages``, in order. ``close()`` removes the socket.
"""
import os
import socket
import struct
import time

_UCRED = struct.Struct("3i")


class Message:
    """One ``sd_notify`` datagram: the sender's pid and its ``KEY=VALUE`` lines."""

    def __init__(self, pid, text, at):
        self.pid, self.text, self.at = pid, text, at
        self.fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def __repr__(self):
        return "<from %s: %r>" % (self.pid, self.text)


class NotifyListener:
    """A ``NOTIFY_SOCKET``; see the module comment."""

    def __init__(self, address):
        self.address = str(address)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        raw = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        self.sock.bind(raw)
        self.messages = []

    def receive(self, timeout):
        """The next message, or None after ``timeout`` seconds."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = _UCRED.unpack(payload[:_UCRED.size])[0]
        message = Message(pid, data.decode(), time.monotonic())
        self.messages.append(message)
        return message

    def wait_for(self, key, timeout=15.0, value=None):
        """The next message with ``key`` (and ``value`` if given)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(deadline - time.monotonic())
            if message is None:
                raise AssertionError("no %s=%s within %ss; got %r"
                                     % (key, value or "*", timeout, self.messages))
            if key in message.fields and value in (None, message.fields[key]):
                return message

    def drain(self, seconds):
        """Receive for ``seconds``; return the messages that arrived."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            message = self.receive(deadline - time.monotonic())
            if message is None:
                return got
            got.append(message)

    def close(self):
        self.sock.close()
        if not self.address.startswith("@"):
            try:
                os.unlink(self.address)
            except FileNotFoundError:
                pass
