"""Loader fixture: the Django-style module with 'application'."""


def application(environ, start_response):
    return []
