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


def test_a_short_run_reports_instructions_per_keep_alive_request():
    result = instructions.measure("hello", requests=20, warmup=5)
    first, second = result["batches"]
    assert second > first > 0
    # a request is tens of thousands of instructions, not a handful and
    # not the millions of a start-up counted by mistake
    assert 10_000 < result["instructions_per_request"] < 1_000_000, result


def test_the_static_scenario_counts_a_file_answered_from_the_loop():
    result = instructions.measure("static", requests=20, warmup=5)
    first, second = result["batches"]
    assert second > first > 0
    assert 10_000 < result["instructions_per_request"] < 1_000_000, result


def test_only_the_static_scenario_serves_a_directory(tmp_path):
    assert instructions._static_args(tmp_path, "hello") == []
    args = instructions._static_args(tmp_path, "static")
    assert args[0] == "--static" and args[1] == "/static/=%s" % (tmp_path / "static")
    assert (tmp_path / "static" / "10k.bin").stat().st_size == instructions.STATIC_SIZE
