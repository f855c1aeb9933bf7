"""What each signal to the arbiter means: the ``_on_<name>`` handlers.

The arbiter's signal queue only records signals; its loop calls
``_handle_signals``, which dispatches each one to the method named after it.
Every handler only changes the arbiter's intent (stop, how many workers,
which to replace); the loop and ``plan.plan`` carry it out.
"""

import logging
import os
import signal
import time

from appserver import hooks, logs, upgrade

log = logging.getLogger("appserver")


class SignalHandlers:
    """Mixed into ``Arbiter``; uses its worker table and settings."""

    def _handle_signals(self):
        while True:
            signum = self.signals.pop()
            if signum is None:
                return
            name = signal.Signals(signum).name[3:].lower()
            getattr(self, "_on_" + name)()

    def _on_term(self):
        delay = self.cfg.shutdown_delay
        if not delay or self.stop_at is not None or self.successor is not None:
            log.info("Received TERM: stopping gracefully")
            self.stop_mode = "graceful"
            return
        log.info("Received TERM: not ready any more; still serving for %.1f s "
                 "(shutdown-delay), then stopping gracefully", delay)
        self.readiness.draining = True
        self.stop_at = time.monotonic() + delay

    def _on_int(self):
        log.info("Received INT or QUIT: stopping now")
        self.stop_mode = "quick"

    _on_quit = _on_int

    def _on_chld(self):
        pass        # the loop reaps after every wakeup

    def _on_usr1(self):
        log.info("Received USR1: reopening log files")
        logs.reopen()
        self._kill_all(signal.SIGUSR1)

    def _on_ttin(self):
        self._set_desired(self.desired + 1)
        log.info("Received TTIN: %d workers wanted", self.desired)

    def _on_ttou(self):
        self._set_desired(max(1, self.desired - 1))
        log.info("Received TTOU: %d workers wanted", self.desired)

    def _set_desired(self, value):
        old, self.desired = self.desired, value
        if value != old:
            hooks.call(self.cfg.hooks, "nworkers_changed", self, value, old)

    def _on_winch(self):
        if os.isatty(0):
            log.info("Received WINCH on a terminal: ignored")
            return
        log.info("Received WINCH: stopping all workers, keeping the arbiter")
        self._set_desired(0)

    def _on_hup(self):
        from appserver.arbiter.reload import reload_config
        log.info("Received HUP: reloading")
        hooks.call(self.cfg.hooks, "on_reload", self)
        self.readiness.reload_started()
        result = reload_config(self)
        if result is None:
            self.readiness.booted(len(self.workers), False)
            return
        self.cfg, self.app, self.access_log = result
        self._set_desired(self.resolve_workers(self.cfg))
        for pid in self.workers:
            if pid not in self.stopping:
                self.retiring[pid] = "reload"

    def _on_usr2(self):
        if self.successor is not None or self.predecessor:
            log.warning("Received USR2 during an upgrade: ignored")
            return
        hooks.call(self.cfg.hooks, "pre_exec", self)
        self.successor = upgrade.spawn_new_arbiter(self.listeners, self.cfg.cwd,
                                                   handoff_pair=self.handoff_pair)
        log.info("Received USR2: started new arbiter %d", self.successor)
