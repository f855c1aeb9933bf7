"""Error and access logs.

``setup(cfg)`` configures the ``appserver`` error logger (stderr by default,
or ``error-logfile``) at ``log-level``, and the access log when
``access-logfile`` is set (``-`` is stdout) in ``access-log-format`` (see
``appserver.observe.accesslog``). Every line of the error log reads
``[2026-11-25 02:50:00 +0000] [PID] [LEVEL] message``. Then, with
``log-config FILE`` (JSON, or TOML), the file's ``logging.config.dictConfig``
dictionary is applied on top, for full control: it may route the
``appserver`` and ``appserver.access`` loggers anywhere (existing loggers are
kept unless the file says ``disable_existing_loggers``). A config file may
give the dictionary itself (``log_config``, or Gunicorn's ``logconfig_dict``);
Gunicorn's logger names configure appserver's (``dict_config_of``). A bad file raises
``ConfigError``. The config's notices (settings read with no effect) and
warnings (``forwarded-allow-ips *``) are logged once the handlers are in place.
``reopen()`` reopens every log file of every logger in this process (after log
rotation; the arbiter does it on USR1 and tells workers).
"""

import copy
import json
import logging
import sys

from appserver.config import hook_views
from appserver.errors import ConfigError
from appserver.observe.accesslog import AccessLog, access_logger

__all__ = ["setup", "error_stream", "reopen", "load_log_config", "dict_config_of",
           "AccessLog", "error_log"]

error_log = logging.getLogger("appserver")
_access_logger = access_logger

_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
_DATEFMT = "%Y-%m-%d %H:%M:%S %z"


def _handler(path, default_stream):
    if path in (None, "-"):
        return logging.StreamHandler(default_stream)
    return logging.FileHandler(path, encoding="utf-8")


def setup(cfg):
    """Configure the error log and return the ``AccessLog``; hooks'
    ``server.log.reopen_files()`` reopens through ``reopen``."""
    hook_views.LOG.reopen = reopen
    log_config = getattr(cfg, "log_config", None)
    dict_config = dict_config_of(log_config) if log_config else None
    for handler in list(error_log.handlers):
        error_log.removeHandler(handler)
        handler.close()
    handler = _handler(cfg.error_logfile, sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, _DATEFMT))
    error_log.addHandler(handler)
    error_log.setLevel(cfg.log_level.upper())
    error_log.propagate = False
    access = AccessLog(cfg.access_logfile, getattr(cfg, "access_log_format", None))
    if dict_config is not None:
        from logging.config import dictConfig     # only with log-config: it is large
        try:
            dictConfig(dict_config)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            raise ConfigError("log-config %s: %s" % (_named(log_config), exc)) from None
        access.refresh()
    for notice in getattr(cfg, "notices", ()):
        error_log.info(notice)
    for warning in getattr(cfg, "warnings", ()):
        error_log.warning(warning)
    return access


# Loggers as Gunicorn names them in a dictConfig dictionary, and ours.
GUNICORN_LOGGERS = (("gunicorn.error", "appserver"), ("gunicorn.access", "appserver.access"))


def dict_config_of(log_config):
    """The ``dictConfig`` dictionary of ``log-config``: read from its file
    (a path), or given in a config file (a dict: a copy, so it can be
    applied again after a reload). A logger named as Gunicorn names it
    (``gunicorn.error``, ``gunicorn.access``) configures appserver's
    (``appserver``, ``appserver.access``), unless the dictionary names
    that one too."""
    if isinstance(log_config, str):
        config = load_log_config(log_config)
    else:
        config = copy.deepcopy(log_config)
        config.setdefault("version", 1)
        config.setdefault("disable_existing_loggers", False)
    loggers = config.get("loggers")
    if isinstance(loggers, dict):
        for theirs, ours in GUNICORN_LOGGERS:
            if isinstance(loggers.get(theirs), dict) and ours not in loggers:
                loggers[ours] = {k: v for k, v in loggers[theirs].items()
                                 if k != "qualname"}
    return config


def _named(log_config):
    return log_config if isinstance(log_config, str) else "(the dictionary)"


def load_log_config(path):
    """The ``dictConfig`` dictionary in ``path`` (``.json``, ``.toml``)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError("log-config %s: %s" % (path, exc.strerror)) from None
    try:
        if path.endswith(".toml"):
            config = _toml(data)
        else:
            config = json.loads(data.decode("utf-8"))
    except ConfigError:
        raise
    except Exception as exc:
        if data.lstrip().startswith(b"["):      # an ini file, as Gunicorn's --log-config reads
            raise ConfigError(
                "log-config %s looks like an ini file for logging.config.fileConfig "
                "(Gunicorn's --log-config); appserver reads a dictConfig dictionary "
                "in a JSON or TOML file (Gunicorn's --log-config-json)" % path) from None
        raise ConfigError("log-config %s is not valid %s: %s" % (
            path, "TOML" if path.endswith(".toml") else "JSON", exc)) from None
    if not isinstance(config, dict):
        raise ConfigError("log-config %s: expected a dictConfig dictionary" % path)
    config.setdefault("version", 1)
    config.setdefault("disable_existing_loggers", False)
    return config


def _toml(data):
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError("log-config: reading TOML needs Python 3.11+ or the "
                              "tomli package; use a .json file") from None
    return tomllib.loads(data.decode("utf-8"))


def error_stream():
    """The file object the error log writes to (for C-level stack dumps)."""
    for handler in error_log.handlers:
        stream = getattr(handler, "stream", None)
        if stream is not None and hasattr(stream, "fileno"):
            return stream
    return None


def _all_handlers():
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)]
    seen = []
    for logger in loggers:
        for handler in logger.handlers:
            if handler not in seen:
                seen.append(handler)
    return seen


def reopen():
    """Reopen every log file of every logger in this process."""
    for handler in _all_handlers():
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                old, handler.stream = handler.stream, handler._open()
                if old is not None:
                    old.close()
            finally:
                handler.release()
