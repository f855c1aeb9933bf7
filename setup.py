"""Build the optional C twins: the plain-head parser's (``appserver.http._plain``)
and the static cache's file check (``appserver.static._filekey``).

Everything else about the package is in pyproject.toml. Without a C compiler
the extensions are skipped and appserver runs their pure-Python twins.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("appserver.http._plain", ["appserver/http/_plain.c"],
                             optional=True),
                   Extension("appserver.static._filekey", ["appserver/static/_filekey.c"],
                             optional=True)])
