"""The startup error tree and its exit codes.

Every error a user can cause before the server is serving (a bad setting, a
socket that cannot be bound, an app that does not load) is one of these. Each
class carries its exit code; ``cli.main`` is the one place that turns them into
a message on stderr and a process exit status. Protocol errors seen while
serving live in ``appserver.http.errors`` and carry an HTTP status instead.
"""

EXIT_OK = 0
EXIT_ERROR = 1          # unexpected failure at run time
EXIT_CONFIG = 2         # bad setting, bad command line
EXIT_WORKER_BOOT = 3    # workers keep dying while they boot
EXIT_APP_LOAD = 4       # the WSGI app cannot be imported or is not callable
EXIT_BIND = 5           # a listening socket cannot be bound or inherited


class AppServerError(Exception):
    """Base of startup errors; ``str(err)`` is the message shown to the user."""

    exit_code = EXIT_ERROR


class ConfigError(AppServerError):
    """A setting has a bad value, an unknown name, or a config file is broken."""

    exit_code = EXIT_CONFIG


class UsageError(ConfigError):
    """The command line itself is wrong (exit code 2, like a bad setting);
    ``cli.main`` shows the usage line ``usage`` and ``prog --help`` with it."""

    def __init__(self, message, prog="appserver", usage="appserver [OPTIONS] APP"):
        super().__init__(message)
        self.prog, self.usage = prog, usage


class BadBindAddress(ConfigError):
    """A ``bind`` address is malformed: a bad setting, like any other."""


class BindError(AppServerError):
    """A well-formed ``bind`` address cannot be bound or inherited."""

    exit_code = EXIT_BIND


class AppLoadError(AppServerError):
    """The application named on the command line cannot be loaded."""

    exit_code = EXIT_APP_LOAD


class WorkerBootError(AppServerError):
    """Workers die while booting, again and again: the arbiter gives up."""

    exit_code = EXIT_WORKER_BOOT
