"""Loader fixture: a package with a wsgi submodule."""
