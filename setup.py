"""Build the optional C twin of the plain-head parser (``appserver.http._plain``).

Everything else about the package is in pyproject.toml. Without a C compiler
the extension is skipped and appserver runs its pure-Python parser.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("appserver.http._plain", ["appserver/http/_plain.c"],
                             optional=True)])
