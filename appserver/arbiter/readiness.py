"""What the arbiter tells its supervisor (systemd) about its state, and when.

``Readiness`` turns the arbiter's events into ``sd_notify`` messages through a
``systemd.Notifier``: ``READY=1`` once the first workers have booted;
``RELOADING=1`` on HUP, then ``READY=1`` again when the reload is over, with a
``STATUS=`` that says how it ended: ``reloaded: ...`` once every worker was
replaced, ``reload failed: WHY; the previous workers keep serving`` when it
was abandoned (``reload_finished``);
``STOPPING=1`` on a stop (not when handing over to a new arbiter, which
sends ``MAINPID=`` and ``READY=1`` itself); ``STATUS=`` with busy and idle
workers when it changes, at most once a second; ``WATCHDOG=1`` at half the
watchdog interval while the arbiter loop runs. Without ``NOTIFY_SOCKET`` it
only tracks state.
"""

from appserver.observe import scoreboard

STATUS_INTERVAL = 1.0


class Readiness:
    """Arbiter-side state machine for readiness notifications."""

    def __init__(self, notifier, successor=False):
        self.notifier = notifier
        self.successor = successor  # started by USR2: took_over() says READY
        self.ready = False          # the first workers have booted
        self.reloading = False
        self.draining = False       # stopping: not ready for new traffic
        self._status = None
        self._status_at = -STATUS_INTERVAL
        self._watchdog_at = 0.0

    def tick_bound(self, default):
        """How long the arbiter may sleep and still feed the watchdog."""
        interval = self.notifier.watchdog_interval
        return min(default, interval) if interval else default

    def booted(self, workers_count):
        """All workers have booted; True the first time only."""
        if self.ready:
            return False
        self.ready = True
        if not self.successor:
            self.notifier.send("READY=1", "STATUS=%d workers booted" % workers_count)
        return True

    def reload_started(self):
        self.reloading = True
        self.notifier.reloading()

    def reload_finished(self, status):
        """A reload ended (replaced every worker, or failed): ``status`` says how."""
        self.reloading = False
        self._status = status
        self.notifier.send("READY=1", "STATUS=" + status)

    def stopping(self, handing_over):
        self.draining = True
        if not handing_over:
            self.notifier.send("STOPPING=1")

    def took_over(self, pid):
        self.notifier.send("MAINPID=%d" % pid, "READY=1")

    def update(self, infos, now):
        """Feed the watchdog and publish worker counts when they change."""
        interval = self.notifier.watchdog_interval
        if interval and now >= self._watchdog_at:
            self._watchdog_at = now + interval
            self.notifier.send("WATCHDOG=1")
        slots = [scoreboard.request_slots(i) for i in infos.values()]
        busy, idle = sum(s[0] for s in slots), sum(s[1] for s in slots)
        threaded = any(i.threads for i in infos.values())
        status = "%d busy, %d idle %s" % (busy, idle, "threads" if threaded else "workers")
        if self.ready and status != self._status and now - self._status_at >= STATUS_INTERVAL:
            self._status, self._status_at = status, now
            self.notifier.send("STATUS=" + status)
