"""Pure decisions of the arbiter: what to spawn, what to stop, when to give up.

Nothing here forks, signals or reads a clock: every function takes the
worker table, the scoreboard snapshot and ``now`` as arguments and returns a
decision, so each rule is tested without a process in sight. The arbiter
carries the decisions out.
"""

from collections import namedtuple

from appserver import scoreboard

# What the arbiter knows of one worker it forked.
Worker = namedtuple("Worker", "pid index spawned_at")

# A worker to kill because its heartbeat stopped.
Stuck = namedtuple("Stuck", "pid index silent_for request_line")

BACKOFF_START = 0.1     # seconds before the first respawn after a boot failure
BACKOFF_CAP = 10.0      # never wait longer than this between respawns


def to_spawn(desired, workers):
    """How many workers to fork so that ``desired`` are running."""
    return max(0, desired - len(workers))


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
        limit = boot_timeout if info.state == scoreboard.BOOTING else timeout
        silent = now - info.heartbeat
        if limit and silent > limit:
            found.append(Stuck(worker.pid, worker.index, silent, info.request_line))
    return found


def all_booted(workers, infos):
    """True when every worker has left the booting state."""
    for worker in workers:
        info = infos.get(worker.index)
        if info is None or info.pid != worker.pid or info.state == scoreboard.BOOTING:
            return False
    return bool(workers)


def respawn_delay(consecutive_boot_failures):
    """Exponential backoff between respawns while workers fail to boot."""
    if consecutive_boot_failures <= 0:
        return 0.0
    return min(BACKOFF_CAP, BACKOFF_START * 2 ** (consecutive_boot_failures - 1))


def describe_exit(status_code, signum):
    """A short phrase for a worker's exit, for the log."""
    if signum:
        return "killed by signal %d" % signum
    return "exited with code %d" % status_code
