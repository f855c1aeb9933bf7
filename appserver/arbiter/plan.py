"""Pure decisions of the arbiter: what to spawn, what to stop, when to give up.

Nothing here forks, signals or reads a clock: every function takes the
worker table (or a ``Table`` snapshot of it), the scoreboard readings and
``now`` as arguments and returns a decision, so each rule is tested without a
process in sight. The arbiter carries the decisions out.

``Table`` is what ``pool.Pool.snapshot`` returns: the live workers and what
the arbiter intends for each, frozen at one moment. ``Snapshot`` adds the
arbiter's own state; it is all a watcher (monitor, status) gets to read.

Replacing workers (reload, recycling) always goes through ``decide``: a worker
marked *retiring* keeps serving until a replacement has booted, then it is
stopped, so serving capacity never dips below ``desired``. Replacements boot
in parallel, up to ``reload_batch(desired)`` at once (a quarter of the pool),
so a reload of many workers takes a few boot times, not one per worker.
"""

from collections import namedtuple

from appserver.observe import scoreboard

# What the arbiter knows of one worker it forked.
Worker = namedtuple("Worker", "pid index spawned_at")

# A worker to kill because its heartbeat stopped.
Stuck = namedtuple("Stuck", "pid index silent_for request_line booting")

# What to do now: fork ``spawn`` workers, send TERM to the ``stop`` pids.
Plan = namedtuple("Plan", "spawn stop")

# The worker table at ``now``: ``workers`` (list of Worker), ``infos``
# ({index: scoreboard.SlotInfo}), ``retiring`` ({pid: why}), ``stopping``
# (pids sent TERM), ``timed_out`` ({pid: when its stack dump was asked}),
# ``lifetimes`` ({pid: allowed age}), ``booted`` (pids that have booted).
Table = namedtuple("Table", "now workers infos retiring stopping timed_out "
                            "lifetimes booted")

# What a watcher reads: the table plus the arbiter's settings and state.
Snapshot = namedtuple("Snapshot", "table cfg desired ready draining stopping_all")

BACKOFF_START = 0.1     # seconds before the first respawn after a boot failure
BACKOFF_CAP = 10.0      # never wait longer than this between respawns


def _booting(worker, infos):
    info = infos.get(worker.index)
    return info is None or info.pid != worker.pid or info.state == scoreboard.BOOTING


def reload_batch(desired):
    """How many replacements may boot at once: a quarter of the pool, at least 1."""
    return max(1, -(-desired // 4))


def decide(desired, workers, infos, retiring, stopping, booted_once=True):
    """Spawn and stop decisions for one turn of the arbiter loop.

    ``workers`` are all live workers; ``retiring`` the pids to be replaced;
    ``stopping`` the pids already sent TERM. Retiring workers are replaced in
    parallel: new ones are forked while fewer than ``reload_batch(desired)``
    are booting, and an old one is stopped only once a new one has booted in
    its place, so at most ``desired + reload_batch(desired)`` run at once.
    Until a first worker has ever booted (``booted_once``), one worker boots
    alone: an app that cannot load fails once, with one traceback.
    """
    active = [w for w in workers if w.pid not in stopping]
    current = [w for w in active if w.pid not in retiring]
    old = sorted((w for w in active if w.pid in retiring),
                 key=lambda w: (w.spawned_at, w.pid))
    if not old:
        missing = desired - len(current)
        if not booted_once:
            missing = min(missing, 0 if current else 1)
        if missing >= 0:
            return Plan(missing, [])
        return Plan(0, to_stop(desired, current))
    booting = sum(1 for w in current if _booting(w, infos))
    spawn = max(0, min(desired - len(current), reload_batch(desired) - booting))
    serving = len(current) - booting + len(old)
    surplus = min(len(old), max(0, serving - desired))
    return Plan(spawn, [w.pid for w in old[:surplus]])


def to_stop(desired, workers):
    """Pids of surplus workers, oldest first, so that ``desired`` remain."""
    surplus = len(workers) - desired
    if surplus <= 0:
        return []
    oldest = sorted(workers, key=lambda w: (w.spawned_at, w.pid))
    return [w.pid for w in oldest[:surplus]]


def free_index(workers, slots):
    """The lowest scoreboard slot no worker holds."""
    used = {w.index for w in workers}
    for index in range(slots):
        if index not in used:
            return index
    raise RuntimeError("scoreboard full: more than %d workers" % slots)


def stuck_workers(workers, infos, now, timeout, boot_timeout):
    """Workers whose heartbeat is older than their allowed silence.

    ``infos`` maps scoreboard index to ``SlotInfo``. A booting worker may stay
    silent for ``boot_timeout`` (loading an app can take a while); any other
    worker for ``timeout``. A timeout of 0 disables the check.
    """
    found = []
    for worker in workers:
        info = infos.get(worker.index)
        if info is None or info.pid != worker.pid:
            continue
        booting = info.state == scoreboard.BOOTING
        limit = boot_timeout if booting else timeout
        silent = now - info.heartbeat
        if limit and silent > limit:
            found.append(Stuck(worker.pid, worker.index, silent, info.request_line,
                               booting))
    return found


def all_booted(workers, infos):
    """True when there are workers and every one has left the booting state."""
    return bool(workers) and not any(_booting(w, infos) for w in workers)


def newly_booted(workers, infos, seen):
    """Pids of workers that have left the booting state and are not in ``seen``."""
    return {w.pid for w in workers if w.pid not in seen and not _booting(w, infos)}


def recycle_reasons(workers, infos, now, lifetime, memory_limit):
    """``{pid: reason}`` for workers to replace: asked to, too old, too big.

    ``lifetime`` maps pid to that worker's allowed age in seconds (jitter
    already applied; missing or 0 = no limit); ``memory_limit`` is bytes of
    RSS (0 = no limit).
    """
    reasons = {}
    for worker in workers:
        info = infos.get(worker.index)
        if info is None or info.pid != worker.pid:
            continue
        if info.recycle == scoreboard.RECYCLE_TIMEOUT:
            reasons[worker.pid] = "request timeout: a request ran past timeout"
        elif info.recycle:
            reasons[worker.pid] = "max-requests reached (%d served)" % info.requests
        elif lifetime.get(worker.pid) and now - worker.spawned_at > lifetime[worker.pid]:
            reasons[worker.pid] = "max-worker-lifetime reached (%.0f s old)" % (
                now - worker.spawned_at)
        elif memory_limit and info.rss > memory_limit:
            reasons[worker.pid] = "max-worker-memory exceeded (RSS %d MiB)" % (
                info.rss >> 20)
    return reasons


def respawn_delay(consecutive_boot_failures):
    """Exponential backoff between respawns while workers fail to boot."""
    if consecutive_boot_failures <= 0:
        return 0.0
    return min(BACKOFF_CAP, BACKOFF_START * 2 ** min(consecutive_boot_failures - 1, 32))


def describe_exit(code, timed_out=False):
    """A short phrase for a worker's exit status (negative: killed by signal).

    ``timed_out``: the arbiter had asked for its stack after its heartbeat
    stopped; a worker that then exits by itself (code 0) has unwound its
    request (answered 504 if nothing was sent) and stopped.
    """
    if code < 0:
        what = "killed by signal %d" % -code
    elif timed_out and code == 0:
        return "ended its timed-out request and exited"
    else:
        what = "exited with code %d" % code
    return what + " after its timeout" if timed_out else what
