"""Value converters: raw setting values in, checked Python values out.

``convert(setting, raw, origin)`` turns a raw value (a string from the command
line or the environment, or a Python object from a config file) into the value
``Config`` holds, according to ``setting.type`` and its bounds (an
``int-or-auto`` setting such as ``workers`` also takes ``auto``, kept as the
string ``"auto"``). Any bad value raises ``ConfigError`` naming the setting,
what was expected, what was given and ``origin`` (``--workers``,
``APPSERVER_WORKERS``, ``config file PATH``); a malformed bind address raises
``BadBindAddress``, a ``ConfigError`` too (exit code 2: a bad setting, not a
socket that cannot be bound). ``parse_bind`` parses one bind address;
``appserver.config.loading`` re-exports it. ``parse_networks`` splits a
checked networks value (``*`` or addresses) for ``wsgi.proxy.AllowList``.
"""
from __future__ import annotations

import ipaddress
import math
import re
from typing import Any, NoReturn, Tuple, Type, Union

from appserver.config import schema as S
from appserver.errors import BadBindAddress, ConfigError

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
# A parsed bind address: ("tcp", host, port), ("unix", path) or ("fd", n).
Bind = Union[Tuple[str, str, int], Tuple[str, str], Tuple[str, int]]

_AUTO = "auto"
_NUMBERS = (S.INT, S.INT_OR_AUTO, S.FLOAT)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_BIND_FORMS = "HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N"
DEFAULT_PORT = 8000         # of a bind address without one, as with Gunicorn
_NETWORKS = "comma-separated IP addresses and CIDR networks, * or nothing"
_PATH_OR_DICT = "a file path (in a config file, also a dictionary)"
_HEADER_VALUES = ("comma-separated NAME=VALUE pairs, or nothing (in a config file, "
                  "also a dictionary)")
_TOKEN = re.compile(r"[!#$%&'*+.^`|~0-9A-Za-z-]+")     # a header name, no "_"
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$")


def convert(setting: S.Setting, raw: Any, origin: str) -> Any:
    """Return ``raw`` converted for ``setting``; a tuple if it is ``multiple``."""
    if raw is None and setting.default is None:
        return None
    if not setting.multiple:
        return _convert_one(setting, raw, origin)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        _fail(setting, "a string or a list of strings", raw, origin)
    return tuple(_convert_one(setting, item, origin) for item in raw)


def _convert_one(setting: S.Setting, raw: Any, origin: str) -> Any:
    value = _CONVERTERS[setting.type](setting, raw, origin)
    if value == _AUTO and setting.type == S.INT_OR_AUTO:
        return value
    if setting.type in _NUMBERS and not _in_bounds(setting, value):
        _fail(setting, describe(setting), raw, origin)
    return value


def _fail(setting: S.Setting, expected: str, raw: Any, origin: str,
          error: Type[ConfigError] = ConfigError) -> NoReturn:
    raise error("%s: expected %s, got %r (from %s)"
                % (setting.name, expected, raw, origin))


def describe(setting: S.Setting) -> str:
    """What a value of ``setting`` must look like, for messages and docs."""
    if setting.type == S.CHOICE:
        return "one of " + ", ".join(setting.choices)
    if setting.type == S.INT_OR_AUTO:
        return "a whole number%s or auto" % _bounds_text(setting)
    kind = {S.INT: "a whole number", S.FLOAT: "a number", S.STR: "a string",
            S.BOOL: "true or false", S.BIND: _BIND_FORMS,
            S.KEYVALUE: "KEY=VALUE", S.NETWORKS: _NETWORKS,
            S.PATH_OR_DICT: _PATH_OR_DICT, S.HEADER_VALUES: _HEADER_VALUES}[setting.type]
    return kind + _bounds_text(setting)


def default_text(setting: S.Setting) -> str:
    """The default of ``setting`` as shown in ``--help`` and the docs."""
    if setting.default_doc is not None:
        return setting.default_doc
    value = setting.default
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    if isinstance(value, dict):
        return ",".join("%s=%s" % pair for pair in value.items()) or "none"
    if isinstance(value, float):
        return "%g" % value
    return "none" if value is None else str(value)


def _bounds_text(setting: S.Setting) -> str:
    low, high = setting.minimum, setting.maximum
    if low is not None and high is not None:
        return " from %s to %s" % (low, high)
    if low is not None:
        return " %s %s" % (">" if setting.exclusive_minimum else ">=", low)
    if high is not None:
        return " <= %s" % high
    return ""


def _in_bounds(setting: S.Setting, value: float) -> bool:
    low, high = setting.minimum, setting.maximum
    if low is not None and (value < low or (setting.exclusive_minimum and value == low)):
        return False
    return high is None or value <= high


def _to_int(setting: S.Setting, raw: Any, origin: str) -> Any:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw):
        return int(raw)
    _fail(setting, describe(setting), raw, origin)


def _to_int_or_auto(setting: S.Setting, raw: Any, origin: str) -> Any:
    if isinstance(raw, str) and raw.strip().lower() == _AUTO:
        return _AUTO
    return _to_int(setting, raw, origin)


def _to_float(setting: S.Setting, raw: Any, origin: str) -> Any:
    value = None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            pass
    if value is None or not math.isfinite(value):
        _fail(setting, describe(setting), raw, origin)
    return value


def _to_str(setting: S.Setting, raw: Any, origin: str) -> Any:
    if not isinstance(raw, str):
        _fail(setting, "a string", raw, origin)
    return raw


def _to_bool(setting: S.Setting, raw: Any, origin: str) -> Any:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
        return raw.strip().lower() in _TRUE
    _fail(setting, "true or false (1/0, yes/no, on/off)", raw, origin)


def _to_choice(setting: S.Setting, raw: Any, origin: str) -> Any:
    if isinstance(raw, str) and raw.strip().lower() in setting.choices:
        return raw.strip().lower()
    _fail(setting, describe(setting), raw, origin)


def _to_keyvalue(setting: S.Setting, raw: Any, origin: str) -> Any:
    if isinstance(raw, str) and raw.partition("=")[0].strip() and "=" in raw:
        return raw
    _fail(setting, "KEY=VALUE", raw, origin)


def _to_bind(setting: S.Setting, raw: Any, origin: str) -> Any:
    if not isinstance(raw, str):
        _fail(setting, "a string, " + _BIND_FORMS, raw, origin, BadBindAddress)
    try:
        _parse_bind(raw)
    except _BadBind as err:
        raise _bind_error(raw, err, " (from %s)" % origin) from None
    return raw


def _to_networks(setting: S.Setting, raw: Any, origin: str) -> Any:
    if isinstance(raw, (list, tuple)) and all(isinstance(i, str) for i in raw):
        raw = ",".join(raw)
    if isinstance(raw, str):
        items = [item.strip() for item in raw.split(",") if item.strip()]
        try:
            for item in items:
                if item != "*":
                    ipaddress.ip_network(item, strict=False)
            return ",".join(items)
        except ValueError:
            pass
    _fail(setting, _NETWORKS, raw, origin)


def _to_path_or_dict(setting: S.Setting, raw: Any, origin: str) -> Any:
    if isinstance(raw, (str, dict)):
        return raw
    _fail(setting, _PATH_OR_DICT, raw, origin)


def _to_header_values(setting: S.Setting, raw: Any, origin: str) -> Any:
    """``"X-Forwarded-Ssl=on,X-Forwarded-Proto=https"`` or a dict -> a dict
    of upper-cased header names to values."""
    pairs: Any = None
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, str):
        items = [item for item in raw.split(",") if item.strip()]
        if all("=" in item for item in items):
            pairs = [[part.strip() for part in item.split("=", 1)] for item in items]
    if pairs is None or not all(
            isinstance(name, str) and isinstance(value, str) and _TOKEN.fullmatch(name)
            for name, value in pairs):
        _fail(setting, _HEADER_VALUES, raw, origin)
    return {name.upper(): value for name, value in pairs}


_CONVERTERS = {S.INT: _to_int, S.INT_OR_AUTO: _to_int_or_auto, S.FLOAT: _to_float,
               S.STR: _to_str, S.BOOL: _to_bool, S.CHOICE: _to_choice,
               S.BIND: _to_bind, S.KEYVALUE: _to_keyvalue, S.NETWORKS: _to_networks,
               S.PATH_OR_DICT: _to_path_or_dict, S.HEADER_VALUES: _to_header_values}


class _BadBind(Exception):
    """Why a bind address is malformed."""


def _bind_error(value: object, why: object, origin: str = "") -> BadBindAddress:
    return BadBindAddress("bad bind address %r%s: %s; expected %s"
                     % (value, origin, why, _BIND_FORMS))


def parse_bind(value: object) -> Bind:
    """Parse a bind address: ``("tcp", host, port)``, ``("unix", path)`` or ``("fd", n)``.

    Gunicorn's forms mean what they mean there: ``tcp://HOST:PORT``,
    ``unix://PATH``, ``HOST`` and ``[IPv6]`` (port 8000), ``:PORT`` (every
    IPv4 interface, 0.0.0.0). Raises ``BadBindAddress`` saying what is wrong
    and which forms are expected.
    """
    try:
        return _parse_bind(value)
    except _BadBind as err:
        raise _bind_error(value, err) from None


def _parse_bind(value: object) -> Bind:
    if not isinstance(value, str) or not value.strip():
        raise _BadBind("it is empty")
    if value.startswith("unix:"):
        path = value[len("unix://"):] if value.startswith("unix://") else value[len("unix:"):]
        if not path:
            raise _BadBind("the socket path is missing after 'unix:'")
        return ("unix", path)
    if value.startswith("fd://"):
        number = value[len("fd://"):]
        if not (number.isascii() and number.isdigit()):
            raise _BadBind("the file descriptor after 'fd://' must be a number")
        return ("fd", int(number))
    if value.startswith("tcp://"):
        value = value[len("tcp://"):]
        if not value:
            raise _BadBind("the address is missing after 'tcp://'")
    host, port = _split_host_port(value)
    return ("tcp", host, port)


def _split_host_port(value: str) -> Tuple[str, int]:
    if value.startswith("["):
        if value.endswith("]"):
            value += ":%d" % DEFAULT_PORT
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise _BadBind("an IPv6 address must be followed by ]:PORT")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _BadBind("%r is not an IPv6 address" % host) from None
    else:
        host, sep, port = value.rpartition(":")
        if not sep:
            host, port = value, str(DEFAULT_PORT)
        if not host:
            host = "0.0.0.0"
        if ":" in host:
            raise _BadBind("put an IPv6 address in brackets, like [::1]:8000")
        if not _HOSTNAME.match(host):
            raise _BadBind("%r is not a host name or IPv4 address" % host)
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise _BadBind("the port must be a number from 0 to 65535, not %r" % port)
    return host, int(port)


def parse_networks(text: object) -> Tuple[bool, Tuple[Network, ...]]:
    """``(any, networks)`` from a comma-separated list; ValueError when bad."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if "*" in items:
        return True, ()
    return False, tuple(ipaddress.ip_network(item, strict=False) for item in items)
