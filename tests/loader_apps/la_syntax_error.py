"""Loader fixture: a syntax error in the app module."""

def app(environ, start_response)
    return []
