"""Process titles: ``appserver: master [APP]`` and ``appserver: worker [APP]``.

``APP`` is the ``name`` setting when set, else the app spec from the command
line, so ``ps`` tells servers apart. Uses ``setproctitle`` (a dependency).
With ``--proctitle-requests`` a worker's role says what it serves
(``worker_role``): ``worker N busy LINE`` or ``worker N idle``; with a
thread pool ``worker N busy K/T LINE``, K of its T threads running a
request and LINE the one that has run longest.
"""

from setproctitle import setproctitle


def title(role, cfg):
    return "appserver: %s [%s]" % (role, cfg.name or cfg.app)


def worker_role(number, line=None, busy=None, size=None):
    """The role part of a worker's title: idle when ``line`` is None."""
    if line is None:
        return "worker %d idle" % number
    if size is None:
        return "worker %d busy %s" % (number, line[:100])
    return "worker %d busy %d/%d %s" % (number, busy, size, line[:100])


def set_title(role, cfg):
    setproctitle(title(role, cfg))
