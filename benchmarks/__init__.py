"""Benchmark suite: appserver against Gunicorn on the same apps, same CPU.

Contract: ``python -m benchmarks`` (run from the repository root) runs it;
see ``docs/benchmarks.md``. Pure parts (wrk parsing, /proc accounting,
statistics, Markdown) live in modules of their own so they can be tested
without wrk or Gunicorn.
"""
