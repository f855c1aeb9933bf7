"""Start-up checks: what a start can find wrong before it binds or forks.

``run(cfg, binding)`` runs ``CHECKS`` in order and raises the first failure as
the ``AppServerError`` a start stops with (its exit code included):

1. settings: every bind and admin address well formed, ``bind-mode``,
   ``bind-owner``, ``umask``, the access log format, the TLS files, the
   ``warmup`` requests and the ``static`` directories;
2. the app name: well formed, and its top-level module found on ``sys.path``
   (not imported: the workers import it, and a reload must see new code);
3. ``user`` and ``group`` exist;
4. the pid file and log files can be written (not created);
5. ``log-config`` is read and parsed;
6. the StatsD address resolves;
7. with ``binding`` true, each bind address and the admin listener are
   bound and released at once; the app is imported and its callable found.

``appserver --check-config`` runs them all (``binding=True``). A start runs
1-6 (``binding=False``) after ``loader.prepare`` and before the arbiter,
which then binds, forks and loads for real: so a start and a check fail on
the same thing, in the same order, with the same exit code, and every
failure of 1-6 comes before any socket is bound.
"""

import os

from appserver.app import loader, warmup
from appserver.deploy import daemon
from appserver.net import sockets, tls
from appserver.observe import accesslog, logs
from appserver.config.loading import parse_bind
from appserver.errors import BadBindAddress, ConfigError


def run(cfg, binding):
    """Run the checks in order; raise the first failure."""
    for check in CHECKS:
        check(cfg, binding)


def check_settings(cfg, binding):
    for address in cfg.bind:
        parse_bind(address)
    if cfg.admin_bind:
        try:
            parse_bind(cfg.admin_bind)
        except BadBindAddress as err:
            origin = cfg.source("admin_bind").replace("command line", "--admin-bind")
            raise BadBindAddress("admin-bind: %s (from %s)" % (err, origin)) from None
    sockets.parse_mode(cfg.bind_mode)
    sockets.parse_owner(cfg.bind_owner)
    daemon.parse_umask(cfg.umask)
    accesslog.compile_format(cfg.access_log_format)
    tls.check(cfg)
    warmup.parse(cfg.warmup)
    if cfg.static:
        from appserver import static        # only then: what it imports, workers inherit
        static.from_settings(cfg)


def check_app_name(cfg, binding):
    loader.find(cfg.app)


def check_user(cfg, binding):
    daemon.check_user(cfg.user, cfg.group)


def check_paths(cfg, binding):
    if cfg.pid:
        _writable(cfg.pid, "pid")
    for key in ("error_logfile", "access_logfile"):
        path = getattr(cfg, key)
        if path not in (None, "-"):
            _writable(path, key.replace("_", "-"))


def check_log_config(cfg, binding):
    if cfg.log_config:
        logs.dict_config_of(cfg.log_config)


def check_statsd(cfg, binding):
    if cfg.statsd_host:
        from appserver.observe.statsd import StatsD
        StatsD(cfg.statsd_host, cfg.statsd_prefix).sock.close()


def check_binds(cfg, binding):
    """Bind every address (the admin listener too) and release it at once."""
    if not binding or _inherits_sockets():
        return
    addresses = [parse_bind(address) for address in cfg.bind]
    sockets.close_all(sockets.bind_all(addresses, cfg.backlog, cfg.bind_mode,
                                       cfg.bind_owner))
    if cfg.admin_bind:
        sockets.close_all(sockets.bind_all([parse_bind(cfg.admin_bind)], 64))


def check_app(cfg, binding):
    if binding:
        loader.load_app(cfg.app)


CHECKS = (check_settings, check_app_name, check_user, check_paths,
          check_log_config, check_statsd, check_binds, check_app)


def _inherits_sockets():
    """Sockets come from systemd or an old arbiter: nothing to bind here."""
    from appserver.deploy.upgrade import FDS_VAR
    return (os.environ.get("LISTEN_PID") == str(os.getpid())
            or bool(os.environ.get(FDS_VAR)))


def _writable(path, setting):
    """``ConfigError`` unless ``path`` can be written or created."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise ConfigError("%s %s: is a directory; give a file path" % (setting, path))
    if os.path.exists(path):
        target, what = path, "file"
    else:
        target, what = os.path.dirname(path), "directory"
        if not os.path.isdir(target):
            raise ConfigError("%s %s: directory %s does not exist; create it or "
                              "choose another path" % (setting, path, target))
    if not os.access(target, os.W_OK):
        raise ConfigError("%s %s: the %s %s is not writable by this user (uid %d)"
                          % (setting, path, what, target, os.getuid()))
