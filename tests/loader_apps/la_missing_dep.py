"""Loader fixture: the module exists but imports a module that does not."""

import la_dependency_that_is_not_installed  # noqa: F401


def app(environ, start_response):
    return []
