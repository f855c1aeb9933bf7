"""The repository passes its linter and its type checker.

Contract: ``python -m ruff check`` over the repository root, with the rules of
pyproject.toml's ``[tool.ruff]``, finds nothing, and ``python -m mypy`` over
the packages ``[tool.mypy]`` names (every function annotated) finds no
error; otherwise the test fails with the tool's own report (file:line,
rule, message). CI runs the suite, so a finding fails CI.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*argv):
    proc = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def test_ruff_finds_nothing():
    code, report = run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert code == 0, "ruff check (pip install -e '.[test]' brings ruff):\n" + report


def test_mypy_finds_nothing(tmp_path):
    # A cache of its own: a cache left by a run over other files can replay
    # errors of modules this run only follows.
    code, report = run("mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert code == 0, "mypy (pip install -e '.[test]' brings mypy):\n" + report
