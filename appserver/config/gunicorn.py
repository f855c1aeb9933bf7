"""Gunicorn's settings, each classified: the same here, no effect, or refused.

Data and small pure functions only. ``GUNICORN`` holds one ``GSetting`` per
setting of Gunicorn (its config-file name, its command-line flags and how
they take a value, and its ``rule``). ``translate(name, value, where)`` applies
the rule to a value given in Gunicorn's spelling and type (a config file's
``umask = 0o027``, ``raw_env = [...]``, ``worker_class = 'sync'``, or a flag's
string) and returns ``("set", key, value)`` for the appserver setting ``key``
with the same meaning, or ``("notice", text)`` for a setting accepted with no
effect (the text says why). A setting that cannot work as the user expects
raises ``ConfigError`` saying what to use instead. ``where`` names the source
in messages ("config file PATH", "--worker-class").

A test derives Gunicorn's list from the installed ``gunicorn`` package and
fails when a setting is missing here; docs/migrating.md's table is checked
against ``kind(name)``. The table follows Gunicorn ``FOLLOWS``; settings of
that release which an older Gunicorn lacks stay classified.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Callable, Collection, Dict, NamedTuple, Optional, Tuple

from appserver.errors import ConfigError

SAME, NO_EFFECT, REFUSED = "same", "no effect", "refused"
FOLLOWS = "27"                  # the Gunicorn release whose settings are below

# How a flag takes its value (argparse's actions, as Gunicorn declares them).
VALUE, APPEND, TRUE, FALSE = "store", "append", "store_true", "store_false"


# What a rule returns: ("set", key, value) or ("notice", text or None).
Outcome = Tuple[Any, ...]


class Rule:
    """How one Gunicorn setting's values become appserver's: calling it with
    ``(value, where)`` returns the ``Outcome`` (or raises ``ConfigError``).
    ``kind`` is SAME, NO_EFFECT or REFUSED; ``key`` the appserver setting it
    sets, if any; ``name`` Gunicorn's setting (set by the table)."""

    __slots__ = ("apply", "kind", "key", "name")

    def __init__(self, apply: Callable[[Any, str], Outcome], kind: str,
                 key: Optional[str] = None) -> None:
        self.apply, self.kind, self.key, self.name = apply, kind, key, ""

    def __call__(self, value: Any, where: str) -> Outcome:
        return self.apply(value, where)


class GSetting(NamedTuple):
    """One Gunicorn setting: its name, its flags, and what it becomes here.

    ``kind`` is SAME, NO_EFFECT or REFUSED: what the setting does here when
    given its usual values (``worker_class`` is SAME for sync, refused for
    gevent). ``rule(value, where)`` returns the outcome for one value.
    """

    name: str
    flags: Tuple[str, ...]
    action: str
    kind: str
    rule: Rule


# -- rules ------------------------------------------------------------------

def same(key: str, adapt: Optional[Callable[[Any, str], Any]] = None) -> Rule:
    """The appserver setting ``key`` has the same meaning; ``adapt`` turns
    Gunicorn's value type into appserver's."""
    def apply(value: Any, where: str) -> Outcome:
        return ("set", key, adapt(value, where) if adapt else value)
    return Rule(apply, SAME, key)


def no_effect(why: str) -> Rule:
    """Accepted, changes nothing here; the notice says why."""
    def apply(value: Any, where: str) -> Outcome:
        return ("notice", why)
    return Rule(apply, NO_EFFECT)


def refused_unless(default_values: Collection[Any], why: str, instead: str) -> Rule:
    """No effect at Gunicorn's default (or an equivalent value); any other
    value is refused, saying what to use instead."""
    def apply(value: Any, where: str) -> Outcome:
        if _plain(value) in default_values:
            return ("notice", why)
        raise ConfigError("%s=%r (from %s) is not available: %s; %s"
                          % (rule.name, value, where, why, instead))
    rule = Rule(apply, REFUSED)
    return rule


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    return value


def _octal(value: Any, where: str) -> Any:
    """Gunicorn's umask: an int (0o027), or a string read as Gunicorn does
    ("027" and "0o27" are octal)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return "%03o" % value
    return value


def _name_or_id(value: Any, where: str) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _as_tuple(value: Any, where: str) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _proxy_protocol(value: Any, where: str) -> Any:
    """Gunicorn's off/v1/v2/auto (or a bool): appserver reads v1 and v2."""
    if isinstance(value, str) and value.strip().lower() in ("v1", "v2", "auto"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("off", "none"):
        return False
    return value


_CERT_REQS: Dict[Any, str] = {0: "none", 1: "optional", 2: "required"}


def _cert_reqs(value: Any, where: str) -> Any:
    number = value.strip() if isinstance(value, str) else value
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    return _CERT_REQS.get(number, value)


_SYNC = ("sync", "gthread", "gunicorn.workers.sync.syncworker",
         "gunicorn.workers.gthread.threadworker", "egg:gunicorn#sync",
         "egg:gunicorn#gthread")


def _worker_class(value: Any, where: str) -> Outcome:
    """sync and gthread are what appserver's workers do: one request at a
    time, or ``threads`` at once (Gunicorn, too, reads ``threads`` with
    gthread; its gthread runs the app on a pool thread even with one).
    Any other class is refused."""
    text = value if isinstance(value, str) else "%s.%s" % (
        getattr(value, "__module__", ""), getattr(value, "__name__", repr(value)))
    if text.strip().lower() in _SYNC:
        threaded = "gthread" in text.lower() or "threadworker" in text.lower()
        return ("set", "worker_class", "gthread" if threaded else "sync")
    raise ConfigError(
        "worker_class %r (from %s) is not available: appserver runs sync and "
        "threaded workers (--threads N: N requests at once per worker, with "
        "idle keep-alive connections held by the worker's event loop); remove "
        "the setting, or use 'sync' or 'gthread'. Apps that need gevent or "
        "eventlet (long polling, websockets) do not fit" % (text, where))


def _threads(value: Any, where: str) -> Outcome:
    """Gunicorn's threads is appserver's: a whole number, at least 1."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError("threads: expected a whole number, got %r (from %s)"
                          % (value, where)) from None
    if number < 1:
        raise ConfigError("threads=%d (from %s): expected 1 or more"
                          % (number, where))
    return ("set", "threads", number)


def _http_protocols(value: Any, where: str) -> Outcome:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    if [str(item).strip().lower() for item in items if str(item).strip()] in (["h1"], []):
        return ("notice", None)
    raise ConfigError("http_protocols=%r (from %s) is not available: appserver "
                      "speaks HTTP/1.1; terminate HTTP/2 at the proxy in front"
                      % (value, where))


def _custom(function: Callable[[Any, str], Outcome], kind: str,
            key: Optional[str] = None) -> Rule:
    """``function`` as a rule of ``kind``, setting appserver's ``key``."""
    return Rule(function, kind, key)


# What Gunicorn applies a logconfig_dict over (gunicorn.glogging.CONFIG_DEFAULTS):
# the dictionary's top-level keys replace these. Its logger names configure
# appserver's loggers (appserver.observe.logs).
GUNICORN_LOG_DEFAULTS = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"],
                           "propagate": True, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"],
                            "propagate": True, "qualname": "gunicorn.access"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "generic",
                    "stream": "ext://sys.stdout"},
        "error_console": {"class": "logging.StreamHandler", "formatter": "generic",
                          "stream": "ext://sys.stderr"},
    },
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
                    "datefmt": "[%Y-%m-%d %H:%M:%S %z]", "class": "logging.Formatter"},
    },
}


def _log_config_dict(value: Any, where: str) -> Outcome:
    """Gunicorn's logconfig_dict: log_config's dictionary, over Gunicorn's
    defaults as Gunicorn applies it; the default (empty) changes nothing."""
    if value is None or value == {}:
        return ("notice", "")
    if not isinstance(value, dict):
        raise ConfigError("logconfig_dict=%r (from %s): expected a "
                          "logging.config.dictConfig dictionary" % (value, where))
    merged = copy.deepcopy(GUNICORN_LOG_DEFAULTS)
    merged.update(value)
    return ("set", "log_config", merged)


def _log_config_json(value: Any, where: str) -> Outcome:
    """Gunicorn's logconfig_json: a JSON file of the dictionary Gunicorn
    applies over its defaults, as a logconfig_dict (so its handlers and
    formatters, ``console`` and ``generic``, may be named). Read when the
    configuration is loaded, and again on HUP."""
    if not value:
        return ("notice", "")
    try:
        with open(value, "rb") as f:
            config = json.loads(f.read().decode("utf-8"))
    except OSError as exc:
        raise ConfigError("logconfig_json=%r (from %s): %s"
                          % (value, where, exc.strerror)) from None
    except ValueError as exc:
        raise ConfigError("logconfig_json=%r (from %s) is not valid JSON: %s"
                          % (value, where, exc)) from None
    if config == {}:
        return ("notice", "")
    return _log_config_dict(config, "%s, in %s" % (where, value))


_SYSLOG = ("appserver writes its log to standard error or a file",
           "send standard error to syslog or journald with the service manager")
_PARSER = ("appserver's HTTP parser is strict (RFC 9112) and has no leniency "
           "switches", "fix the client, or normalize requests at the proxy")
_ASGI = "it applies to Gunicorn's ASGI worker; appserver serves WSGI apps"
_HTTP2 = "it applies to HTTP/2, which appserver does not speak"
_DIRTY = ("appserver has no dirty arbiters",
          "run such work in a separate service or task queue")
_CONTROL = ("appserver's control surface is the admin listener (admin_bind) "
            "and 'appserver status'")
_HOOK = "a server hook (see docs/observability.md)"


def _g(name: str, flags: Tuple[str, ...], action: str, rule: Rule,
       kind: Optional[str] = None) -> GSetting:
    rule.name = name
    return GSetting(name, tuple(flags), action, kind or rule.kind, rule)


def _hook(name: str) -> GSetting:
    return _g(name, (), VALUE, no_effect(_HOOK), SAME)


_HOOKS = ("on_starting", "on_reload", "when_ready", "pre_fork", "post_fork",
          "post_worker_init", "worker_int", "worker_abort", "pre_exec",
          "pre_request", "post_request", "child_exit", "worker_exit",
          "nworkers_changed", "on_exit", "ssl_context")
_DIRTY_HOOKS = ("on_dirty_starting", "dirty_post_fork", "dirty_worker_init",
                "dirty_worker_exit")

GUNICORN = (
    # Config file and app
    _g("config", ("-c", "--config"), VALUE, no_effect(
        "the config file is named on the command line (-c FILE)"), SAME),
    _g("wsgi_app", (), VALUE, same("app"), SAME),
    # Server socket
    _g("bind", ("-b", "--bind"), APPEND, same("bind", _as_tuple)),
    _g("backlog", ("--backlog",), VALUE, same("backlog")),
    # Worker processes
    _g("workers", ("-w", "--workers"), VALUE, same("workers")),
    _g("worker_class", ("-k", "--worker-class"), VALUE,
       _custom(_worker_class, SAME, "worker_class"), SAME),
    _g("threads", ("--threads",), VALUE, _custom(_threads, SAME), SAME),
    _g("worker_connections", ("--worker-connections",), VALUE,
       same("max_connections")),
    _g("max_requests", ("--max-requests",), VALUE, same("max_requests")),
    _g("max_requests_jitter", ("--max-requests-jitter",), VALUE,
       same("max_requests_jitter")),
    _g("timeout", ("-t", "--timeout"), VALUE, same("timeout")),
    _g("graceful_timeout", ("--graceful-timeout",), VALUE, same("graceful_timeout")),
    _g("keepalive", ("--keep-alive",), VALUE, same("keep_alive")),
    # Limits
    _g("limit_request_line", ("--limit-request-line",), VALUE,
       same("limit_request_line")),
    _g("limit_request_fields", ("--limit-request-fields",), VALUE,
       same("limit_request_fields")),
    _g("limit_request_field_size", ("--limit-request-field_size",), VALUE,
       same("limit_request_field_size")),
    # Debugging
    _g("reload", ("--reload",), TRUE, same("reload")),
    _g("reload_engine", ("--reload-engine",), VALUE, no_effect(
        "appserver's --reload checks the files' modification times itself")),
    _g("reload_extra_files", ("--reload-extra-file",), APPEND,
       same("reload_extra_file", _as_tuple)),
    _g("spew", ("--spew",), TRUE, refused_unless(
        (False,), "there is no line-by-line trace mode",
        "run the app under 'python -m trace' or a debugger")),
    _g("check_config", ("--check-config",), TRUE, no_effect(
        "it is a command: give --check-config on the command line")),
    _g("print_config", ("--print-config",), TRUE, no_effect(
        "it is a command: give --print-config on the command line")),
    # Server mechanics
    _g("preload_app", ("--preload",), TRUE, same("preload")),
    _g("sendfile", ("--no-sendfile",), FALSE, no_effect(
        "wsgi.file_wrapper over a regular file always uses sendfile (not over "
        "TLS)")),
    _g("reuse_port", ("--reuse-port",), TRUE, refused_unless(
        (False,), "appserver does not set SO_REUSEPORT",
        "for a zero-downtime upgrade send USR2, or use systemd socket "
        "activation")),
    _g("chdir", ("--chdir",), VALUE, same("chdir")),
    _g("daemon", ("-D", "--daemon"), TRUE, same("daemon")),
    _g("raw_env", ("-e", "--env"), APPEND, same("env", _as_tuple)),
    _g("pidfile", ("-p", "--pid"), VALUE, same("pid")),
    _g("worker_tmp_dir", ("--worker-tmp-dir",), VALUE, no_effect(
        "heartbeats go to shared memory, not to files")),
    _g("user", ("-u", "--user"), VALUE, same("user", _name_or_id)),
    _g("group", ("-g", "--group"), VALUE, same("group", _name_or_id)),
    _g("umask", ("-m", "--umask"), VALUE, same("umask", _octal)),
    _g("initgroups", ("--initgroups",), TRUE, same("initgroups")),
    _g("tmp_upload_dir", (), VALUE, no_effect(
        "request bodies are not spooled to disk; wsgi.input reads them from "
        "the connection")),
    _g("secure_scheme_headers", (), VALUE, same("secure_scheme_headers")),
    _g("forwarded_allow_ips", ("--forwarded-allow-ips",), VALUE,
       same("forwarded_allow_ips")),
    # Logging
    _g("accesslog", ("--access-logfile",), VALUE, same("access_logfile")),
    _g("disable_redirect_access_to_syslog",
       ("--disable-redirect-access-to-syslog",), TRUE,
       no_effect("appserver has no syslog output")),
    _g("access_log_format", ("--access-logformat",), VALUE,
       same("access_log_format")),
    _g("errorlog", ("--error-logfile", "--log-file"), VALUE, same("error_logfile")),
    _g("loglevel", ("--log-level",), VALUE, same("log_level")),
    _g("capture_output", ("--capture-output",), TRUE, no_effect(
        "the app's standard output and error stay the server's, which the "
        "service manager or container runtime collects")),
    _g("logger_class", ("--logger-class",), VALUE, refused_unless(
        ("gunicorn.glogging.logger",), "custom logger classes are not loaded",
        "configure the appserver and appserver.access loggers with log_config "
        "(a dictConfig file)")),
    _g("logconfig", ("--log-config",), VALUE, refused_unless(
        (None, ""), "an ini file for logging.config.fileConfig is not read",
        "write the configuration as a dictConfig dictionary in a JSON or TOML "
        "file and set log_config")),
    _g("logconfig_dict", (), VALUE, _custom(_log_config_dict, SAME, "log_config")),
    _g("logconfig_json", ("--log-config-json",), VALUE,
       _custom(_log_config_json, SAME, "log_config")),
    _g("syslog_addr", ("--log-syslog-to",), VALUE, refused_unless(
        ("udp://localhost:514",), *_SYSLOG)),
    _g("syslog", ("--log-syslog",), TRUE, refused_unless((False,), *_SYSLOG)),
    _g("syslog_prefix", ("--log-syslog-prefix",), VALUE,
       refused_unless((None,), *_SYSLOG)),
    _g("syslog_facility", ("--log-syslog-facility",), VALUE,
       refused_unless(("user",), *_SYSLOG)),
    _g("enable_stdio_inheritance", ("-R", "--enable-stdio-inheritance"), TRUE,
       no_effect("standard output and error are always inherited, unbuffered "
                 "if PYTHONUNBUFFERED is set")),
    _g("statsd_host", ("--statsd-host",), VALUE, same("statsd_host")),
    _g("dogstatsd_tags", ("--dogstatsd-tags",), VALUE, refused_unless(
        ("",), "StatsD lines carry no DogStatsD tags",
        "use the Prometheus /metrics of admin_bind for labelled metrics")),
    _g("statsd_prefix", ("--statsd-prefix",), VALUE, same("statsd_prefix")),
    _g("enable_backlog_metric", ("--enable-backlog-metric",), TRUE, no_effect(
        "the listen backlog is not sampled; /metrics and 'appserver status' "
        "show the workers' queues")),
    # Process naming
    _g("proc_name", ("-n", "--name"), VALUE, same("name")),
    _g("default_proc_name", (), VALUE, no_effect(
        "process titles start with 'appserver'; set proc_name to add a name")),
    # Application
    _g("pythonpath", ("--pythonpath",), VALUE, same("pythonpath")),
    _g("paste", ("--paste", "--paster"), VALUE, refused_unless(
        (None,), "PasteDeploy ini files are not read",
        "name the WSGI app object (MODULE:NAME, or a factory call)")),
    _g("raw_paste_global_conf", ("--paste-global",), APPEND, refused_unless(
        ((),), "PasteDeploy ini files are not read",
        "name the WSGI app object (MODULE:NAME, or a factory call)")),
    # Server hooks
    *(_hook(name) for name in _HOOKS),
    # Proxies
    _g("proxy_protocol", ("--proxy-protocol",), VALUE,
       same("proxy_protocol", _proxy_protocol)),
    _g("proxy_allow_ips", ("--proxy-allow-from",), VALUE, same("proxy_allow_ips")),
    _g("protocol", ("--protocol",), VALUE, same("protocol")),
    _g("uwsgi_allow_ips", ("--uwsgi-allow-from",), VALUE, same("uwsgi_allow_ips")),
    # TLS
    _g("keyfile", ("--keyfile",), VALUE, same("keyfile")),
    _g("certfile", ("--certfile",), VALUE, same("certfile")),
    _g("ssl_version", ("--ssl-version",), VALUE, no_effect(
        "the oldest TLS version accepted is tls_min_version (1.2 or 1.3)")),
    _g("cert_reqs", ("--cert-reqs",), VALUE, same("cert_reqs", _cert_reqs)),
    _g("ca_certs", ("--ca-certs",), VALUE, same("ca_certs")),
    _g("suppress_ragged_eofs", ("--suppress-ragged-eofs",), TRUE, no_effect(
        "a TLS connection closed without close_notify ends like a closed "
        "connection")),
    _g("do_handshake_on_connect", ("--do-handshake-on-connect",), TRUE,
       no_effect("the TLS handshake runs in the worker's event loop, under "
                 "header_timeout")),
    _g("ciphers", ("--ciphers",), VALUE, same("ciphers")),
    # HTTP/2
    _g("http_protocols", ("--http-protocols",), VALUE,
       _custom(_http_protocols, SAME), SAME),
    _g("http2_cleartext", ("--http2-cleartext",), VALUE, no_effect(_HTTP2)),
    _g("http2_max_concurrent_streams", ("--http2-max-concurrent-streams",),
       VALUE, no_effect(_HTTP2)),
    _g("http2_initial_window_size", ("--http2-initial-window-size",), VALUE,
       no_effect(_HTTP2)),
    _g("http2_max_frame_size", ("--http2-max-frame-size",), VALUE,
       no_effect(_HTTP2)),
    _g("http2_max_header_list_size", ("--http2-max-header-list-size",), VALUE,
       no_effect(_HTTP2)),
    # HTTP parsing
    _g("permit_obsolete_folding", ("--permit-obsolete-folding",), TRUE,
       refused_unless((False,), *_PARSER)),
    _g("strip_header_spaces", ("--strip-header-spaces",), TRUE,
       refused_unless((False,), *_PARSER)),
    _g("permit_unconventional_http_method",
       ("--permit-unconventional-http-method",), TRUE,
       refused_unless((False,), *_PARSER)),
    _g("permit_unconventional_http_version",
       ("--permit-unconventional-http-version",), TRUE,
       refused_unless((False,), *_PARSER)),
    _g("casefold_http_method", ("--casefold-http-method",), TRUE,
       refused_unless((False,), *_PARSER)),
    _g("forwarder_headers", ("--forwarder-headers",), VALUE, no_effect(
        "a trusted proxy sets SCRIPT_NAME with X-Script-Name or "
        "X-Forwarded-Prefix (see script_name)")),
    _g("header_map", ("--header-map",), VALUE, refused_unless(
        ("drop",), "a request header whose name holds '_' is dropped, as "
                   "Gunicorn's default 'drop' does",
        "send the header with '-' in its name")),
    # ASGI
    _g("asgi_loop", ("--asgi-loop",), VALUE, no_effect(_ASGI)),
    _g("asgi_lifespan", ("--asgi-lifespan",), VALUE, no_effect(_ASGI)),
    _g("asgi_disconnect_grace_period", ("--asgi-disconnect-grace-period",),
       VALUE, no_effect(_ASGI)),
    _g("websocket_max_message_size", ("--websocket-max-message-size",), VALUE,
       no_effect(_ASGI)),
    _g("http_parser", ("--http-parser",), VALUE, no_effect(
        "appserver has one HTTP parser of its own")),
    _g("root_path", ("--root-path",), VALUE, refused_unless(
        ("",), _ASGI, "for a WSGI app mounted under a prefix use script_name")),
    # Dirty arbiters
    _g("dirty_apps", ("--dirty-app",), APPEND, refused_unless(((),), *_DIRTY)),
    _g("dirty_workers", ("--dirty-workers",), VALUE,
       refused_unless((0, "0"), *_DIRTY)),
    _g("dirty_timeout", ("--dirty-timeout",), VALUE, no_effect(_DIRTY[0])),
    _g("dirty_threads", ("--dirty-threads",), VALUE, no_effect(_DIRTY[0])),
    _g("dirty_graceful_timeout", ("--dirty-graceful-timeout",), VALUE,
       no_effect(_DIRTY[0])),
    *(_g(name, (), VALUE, no_effect(_DIRTY[0] + ", so this hook is never "
                                    "called (as in Gunicorn without "
                                    "dirty_workers)"))
      for name in _DIRTY_HOOKS),
    # Control socket
    _g("control_socket", ("--control-socket",), VALUE, no_effect(_CONTROL)),
    _g("control_socket_mode", ("--control-socket-mode",), VALUE,
       no_effect(_CONTROL)),
    _g("control_socket_disable", ("--no-control-socket",), TRUE,
       no_effect(_CONTROL)),
)

BY_NAME = {g.name: g for g in GUNICORN}
HOOK_NAMES = frozenset(_HOOKS)


def kind(name: str) -> str:
    """SAME, NO_EFFECT or REFUSED for Gunicorn's setting ``name``."""
    return BY_NAME[name].kind


# Gunicorn configures logging from the first of these that is set and ignores
# the others (gunicorn.glogging.Logger.setup), whatever source set each.
LOG_CONFIGS = ("logconfig_dict", "logconfig_json", "logconfig")


def log_config_used(given: Dict[str, Any]) -> Optional[str]:
    """Which of Gunicorn's log configurations in ``given`` (name: value)
    Gunicorn uses; None when none is set."""
    return next((name for name in LOG_CONFIGS if given.get(name)), None)


def log_config_ignored(name: str, where: str, used: str) -> str:
    """The notice for Gunicorn's log configuration ``name`` (from ``where``),
    which Gunicorn ignores because ``used`` is set."""
    return ("%s (Gunicorn's setting, from %s) is ignored: %s is set too, and "
            "Gunicorn uses %s before %s; remove the one you do not mean"
            % (name, where, used, used, name))


def translate(name: str, value: Any, where: str) -> Outcome:
    """``("set", key, value)`` or ``("notice", text or None)`` for Gunicorn's
    setting ``name`` given ``value``; ``ConfigError`` when it is refused.

    A notice of None means the value is what appserver does anyway (sync
    workers, one thread): nothing to say.
    """
    outcome = BY_NAME[name].rule(value, where)
    if outcome[0] == "notice" and outcome[1] is not None:
        return ("notice", "%s (Gunicorn's setting, from %s) has no effect: %s"
                % (name, where, outcome[1]))
    return outcome
