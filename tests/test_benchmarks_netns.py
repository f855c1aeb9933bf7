"""The benchmark harness's per-run network namespace (``benchmarks.netns``).

Contract: inside ``fresh_loopback()`` the process is in another network
namespace whose loopback works, a port listening there cannot be reached
from the namespace outside, children started inside are in it too, and on
exit the process is back home. Skipped where namespaces cannot be made (not
root).
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import netns  # noqa: E402

USABLE, WHY = netns.probe()
pytestmark = pytest.mark.skipif(not USABLE, reason=WHY)


def _ns():
    return os.readlink("/proc/self/ns/net")


def test_a_run_gets_its_own_loopback_and_leaves_it():
    home = _ns()
    with netns.fresh_loopback():
        inside = _ns()
        child = subprocess.run([sys.executable, "-c",
                                "import os; print(os.readlink('/proc/self/ns/net'))"],
                               capture_output=True, text=True, check=True).stdout.strip()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass                                # loopback is up in there
    try:
        assert inside != home and child == inside
        assert _ns() == home
        with pytest.raises(OSError):            # that port is not on our loopback
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        listener.close()


def test_each_run_starts_with_empty_tcp_tables():
    with netns.fresh_loopback():
        first = _ns()
    with netns.fresh_loopback():
        second = _ns()
        out = subprocess.run(["ss", "-tan"], capture_output=True, text=True).stdout
    assert first != second
    assert len(out.strip().splitlines()) <= 1    # the header line only
