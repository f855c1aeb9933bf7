"""Process titles: ``appserver: master [APP]`` and ``appserver: worker [APP]``.

``APP`` is the ``name`` setting when set, else the app spec from the command
line, so ``ps`` tells servers apart. Uses ``setproctitle`` (a dependency).
"""

from setproctitle import setproctitle


def title(role, cfg):
    return "appserver: %s [%s]" % (role, cfg.name or cfg.app)


def set_title(role, cfg):
    setproctitle(title(role, cfg))
