"""Loader fixture: both names defined; 'application' wins."""


def application(environ, start_response):
    return []


def app(environ, start_response):
    return []
