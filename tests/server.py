"""The old import path of the functional-test harness, kept for the tests
written against it: the harness is ``tests.harness`` (see its package
comment). New code imports from ``tests.harness.*`` modules directly."""
from tests.harness.clients import (  # noqa: F401
    Response, UnixHTTPConnection, read_response, recv_until_closed,
)
from tests.harness.process import (  # noqa: F401
    APPS_DIR, BOOTING_RE, LISTENING_RE, READY_RE, REPO_ROOT, STOP_TIMEOUT,
)
from tests.harness.procfs import cmdline, open_paths  # noqa: F401
from tests.harness.server import START_TIMEOUT, Server, ServerError  # noqa: F401
