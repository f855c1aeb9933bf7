"""Loader fixture: no 'application' and no 'app'."""

from os.path import join  # imported callables are not listed as the module's own


def create_wsgi(environ, start_response):
    return []


def helper():
    return join("a", "b")
