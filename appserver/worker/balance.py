"""Share new connections out among the workers (pure decisions, no I/O).

Every free worker is woken for a new connection and the first to call
``accept`` wins it. A worker that wakes first again and again (it was
running, the others were not scheduled yet) would so collect most of a burst
of keep-alive connections, and its clients would get a fraction of the
requests served per connection that the other workers' clients get.

``AcceptPacer.defer(mine, read_peers, now)`` says whether a worker holding
``mine`` connections should leave the waiting ones to a peer for now;
``read_peers()`` gives ``(state, connections, last loop turn, request
start)`` per other worker (``Slot.peers``) and is called only when ``mine``
is at least ``MARGIN``. It defers while some peer is free (its loop ran lately,
in its loop or in an app call begun less than ``BUSY_FRESH`` ago: a busy
worker serving quick requests is back in its loop at once) and holds at
least ``MARGIN`` fewer connections, for ``DEFER_MAX`` while the peers'
connection count stays the same, and beyond that, up to ``WAIT_RUN``, only
while such a peer has not run a turn of its loop since the deferral began
(its loop-turn stamp, written before each wait for events, is older; the
heartbeat would not do, a request's start and end stamp it too): on a loaded
machine a peer woken for the same connections may wait for a CPU longer
than ``DEFER_MAX``, and the worker that did run would take the whole burst.
A peer that ran and took nothing (it is full, or it lost the race) ends the
deferral at once; one that never runs (it died, it is stuck) after
``WAIT_RUN``. Once the peers take connections again, or after ``RESET``,
it may defer again.
"""

from appserver.worker.handoff import HANDOFF_AFTER
from appserver.observe.scoreboard import BUSY, IDLE

MARGIN = 2              # a peer this many connections lighter takes the next one
DEFER_MAX = 0.002       # seconds a worker leaves waiting connections to a peer
WAIT_RUN = 0.05         # at most, while that peer has not run since
RESET = 1.0             # seconds after which a worker defers again
PEER_FRESH = 2.5        # a loop turn older than this: the peer is not free
BUSY_FRESH = HANDOFF_AFTER  # an app call longer than this: the peer is not free


def free(state, turn, started, now):
    """Whether a peer can take a connection within moments."""
    if now - turn >= PEER_FRESH:
        return False
    return state == IDLE or (state == BUSY and now - started < BUSY_FRESH)


def lighter_peers(mine, peers, now):
    """The free peers holding at least ``MARGIN`` fewer connections."""
    return [(state, connections, turn, started)
            for state, connections, turn, started in peers
            if connections + MARGIN <= mine and free(state, turn, started, now)]


class AcceptPacer:
    """One worker's accept pacing; see the module comment."""

    __slots__ = ("since", "seen")

    def __init__(self):
        self.since = None       # when the peers last took (or dropped) one
        self.seen = 0           # the peers' connections then

    def defer(self, mine, read_peers, now):
        """True to leave the waiting connections to a lighter free peer."""
        peers = read_peers() if mine >= MARGIN else ()
        lighter = lighter_peers(mine, peers, now)
        if not lighter:
            self.since = None
            return False
        total = sum(p[1] for p in peers)
        if self.since is None or total != self.seen or now - self.since >= RESET:
            self.since, self.seen = now, total
        waited = now - self.since
        if waited < DEFER_MAX:
            return True
        return waited < WAIT_RUN and any(turn < self.since for _, _, turn, _ in lighter)
