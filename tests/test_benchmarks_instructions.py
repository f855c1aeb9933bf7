"""benchmarks/instructions.py: callgrind counts one worker's instructions per
request; a short run (few requests) must report a plausible figure."""
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import instructions  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None,
                                reason="valgrind is not installed")


# A request is tens of thousands of instructions (an upload's sixteen 64 KiB
# reads of the body, hundreds of thousands), not a handful and not the
# millions of a start-up counted by mistake.
@pytest.mark.parametrize("scenario, requests, warmup, low, high", [
    ("hello", 20, 5, 10_000, 1_000_000),        # a keep-alive request
    ("static", 20, 5, 10_000, 1_000_000),       # a file answered from the loop
    ("upload", 5, 2, 100_000, 5_000_000),       # a body read by the app
])
def test_a_short_run_reports_instructions_per_request(scenario, requests, warmup, low, high):
    result = instructions.measure(scenario, requests=requests, warmup=warmup)
    first, second = result["batches"]
    assert second > first > 0
    assert low < result["instructions_per_request"] < high, result


def test_only_the_static_scenario_serves_a_directory(tmp_path):
    assert instructions._static_args(tmp_path, "hello") == []
    args = instructions._static_args(tmp_path, "static")
    assert args[0] == "--static" and args[1] == "/static/=%s" % (tmp_path / "static")
    assert (tmp_path / "static" / "10k.bin").stat().st_size == instructions.STATIC_SIZE


def test_the_upload_scenario_runs_the_upload_app_and_checks_its_answer():
    assert instructions.APPS_OF["upload"] == "upload:application"
    argv = instructions.server_argv("valgrind", Path("/tmp"), False, (), "upload:application")
    assert argv[-1] == "upload:application"
    with pytest.raises(instructions.MeasureError):     # a wrong count is refused
        _answer_check(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n123")


def _answer_check(response):
    import socket
    left, right = socket.socketpair()
    try:
        right.sendall(response)
        return instructions._read_response(left, b"", str(instructions.UPLOAD_SIZE).encode())
    finally:
        left.close()
        right.close()
