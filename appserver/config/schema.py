"""What a setting is: the ``Setting`` record, the value types, the sections.

``appserver.config.settings`` holds the rows, one ``Setting`` per setting; this module
holds what they are made of: the record's fields and the names derived from a
setting's name (config key, environment variable), the value types that
``appserver.config.convert`` understands, and the ``--help`` sections in the order
``--help`` and ``docs/settings.md`` show them.
"""

from typing import Any, NamedTuple, Optional, Tuple

# Value types understood by appserver.config.convert.
INT, FLOAT, STR, BOOL, CHOICE, BIND, KEYVALUE = (
    "int", "float", "str", "bool", "choice", "bind", "keyvalue")
# A whole number, or the word "auto" (kept as the string "auto").
INT_OR_AUTO = "int-or-auto"
# Comma-separated IP addresses and CIDR networks, or "*" (kept as given).
NETWORKS = "networks"
# A file's path; in a config file also the dictionary itself (kept as given).
PATH_OR_DICT = "path-or-dict"
# Header names with a value each: NAME=VALUE,NAME=VALUE; in a config file also
# a dictionary. Kept as a dict, names upper-cased (as Gunicorn spells them).
HEADER_VALUES = "header-values"


class Setting(NamedTuple):
    """One setting: what it is called everywhere, what it holds, how it is shown.

    ``multiple`` settings hold a tuple and their flag may be repeated.
    ``minimum``/``maximum`` bound numbers (``exclusive_minimum`` makes the
    lower bound strict). ``default_env`` names a conventional variable (not
    ``APPSERVER_*``) whose value, put through ``default_env_format``, replaces
    the default when it is set. ``cli_only`` settings are commands or the
    config file itself: they have no environment variable and no config key.
    ``aliases`` are further command-line spellings (Gunicorn's, where its
    flag is named differently).
    """

    name: str
    type: str
    default: Any
    flags: Tuple[str, ...]
    section: str
    help: str
    multiple: bool = False
    metavar: Optional[str] = None
    cli_only: bool = False
    choices: Tuple[str, ...] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    exclusive_minimum: bool = False
    default_env: Optional[str] = None
    default_env_format: str = "{}"
    default_doc: Optional[str] = None
    aliases: Tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The config-file key and ``Config`` attribute: ``graceful_timeout``."""
        return self.name.replace("-", "_")

    @property
    def env(self) -> Optional[str]:
        """The environment variable, ``APPSERVER_GRACEFUL_TIMEOUT``; None if CLI-only."""
        if self.cli_only:
            return None
        return "APPSERVER_" + self.name.upper().replace("-", "_")


SERVER_SOCKET = "Server socket"
PROXIES = "Reverse proxies"
TLS = "TLS"
WORKERS = "Worker processes"
TIMEOUTS = "Timeouts"
LIMITS = "Limits"
LOGGING = "Logging"
PROCESS = "Process"
APPLICATION = "Application"
STATIC = "Static files"
COMMAND = "Command"

SECTIONS = (SERVER_SOCKET, PROXIES, TLS, WORKERS, TIMEOUTS, LIMITS, LOGGING, PROCESS,
            APPLICATION, STATIC, COMMAND)
