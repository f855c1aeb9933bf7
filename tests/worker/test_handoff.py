"""The hand-off pair across two generations (USR2): the variable names the
format; a predecessor that does not is taken to read five fields, and while
it lives a connection with a PROXY destination is not given; a message a
worker cannot read closes that connection and the worker carries on."""
import os
import socket
import subprocess
import sys

from appserver.worker import handoff
from appserver.worker.handoff import Handoff, create_pair


def _legacy_decode(payload):
    """How a worker of a release before the destination fields read a message."""
    meta, _, head = payload.partition(b"\n")
    listener_fd, state, since, host, port = meta.decode().split("\0")
    return listener_fd, state


def _inherited(value, predecessor):
    pair = create_pair()
    fds = [os.dup(sock.fileno()) for sock in pair]
    env = {handoff.ENV_VAR: value % tuple(fds)}
    return pair, handoff.from_env(env, predecessor=predecessor), env


def _gone_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_variable_names_the_format_after_the_descriptors():
    pair = create_pair()
    name, value = handoff.to_env(pair)
    assert (name, value) == (handoff.ENV_VAR, "%d,%d,v2" % tuple(s.fileno() for s in pair))
    _, ours, env = _inherited("%d,%d,v2", os.getpid())
    assert ours.legacy_reader is None and env == {}
    _, theirs, _ = _inherited("%d,%d", os.getpid())
    assert theirs.legacy_reader == os.getpid()
    for p in (pair, ours, theirs):
        for sock in p:
            sock.close()


def test_a_proxied_connection_is_not_given_to_a_live_five_field_reader():
    sender_pair, inherited, _ = _inherited("%d,%d", os.getpid())   # its arbiter lives
    sender = Handoff(inherited)
    receiver = Handoff(sender_pair)
    a, b = socket.socketpair()
    assert not sender.give(a.fileno(), 5, "idle", 1.5, ("10.0.0.1", 1), b"",
                           ("10.0.0.2", 8080))
    assert receiver.take(5) == []                   # nothing was sent: it stays
    assert sender.give(a.fileno(), 5, "idle", 1.5, ("10.0.0.1", 1), b"")
    payload, fds, _, _ = socket.recv_fds(sender_pair[1], 70000, 1)
    assert _legacy_decode(payload) == ("5", "idle")  # five fields: it can read them
    os.close(fds[0])
    sender.legacy_reader = _gone_pid()              # its arbiter has exited
    assert sender.give(a.fileno(), 5, "idle", 1.5, ("10.0.0.1", 1), b"x",
                       ("10.0.0.2", 8080))
    [moved] = receiver.take(5)
    assert (moved.dest, moved.head, sender.legacy_reader) == (("10.0.0.2", 8080), b"x", None)
    moved.sock.close()
    a.close()
    b.close()


def test_an_unreadable_message_closes_its_connection_and_the_rest_are_taken(caplog):
    pair = create_pair()
    receiver = Handoff(pair)
    a, b = socket.socketpair()
    for meta in (b"5\0idle\x001.5\n", b"5\0new-state\x001.5\0h\x001\n",
                 b"5\0idle\x001.5\0h\x001\0d\x002\0later\n"):
        socket.send_fds(pair[0], [meta + b"GET"], [a.fileno()])
    [moved] = receiver.take(5)      # the third: more fields than known are ignored
    assert (moved.state, moved.peer, moved.dest, moved.head) == (
        "idle", ("h", 1), ("d", 2), b"GET")
    assert caplog.text.count("Closed a connection handed over by another worker") == 2
    moved.sock.close()
    a.close()
    b.close()
