"""Test app whose import kills the process: ``os._exit(1)`` at module level,
so every worker dies while booting, without a Python exception (a crash
loop)."""
import os

os._exit(1)
