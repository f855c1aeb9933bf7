"""Loader fixture: only 'app'."""


def app(environ, start_response):
    return []
