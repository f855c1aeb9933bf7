"""Loader fixture: an app, a factory, dotted names and things that are not apps."""

import types


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"simple"]


def make_app(greeting="hello", punctuation="!"):
    def greeting_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [(greeting + punctuation).encode()]
    greeting_app.greeting = greeting + punctuation
    return greeting_app


def broken_factory():
    raise RuntimeError("the factory exploded")


def none_factory():
    return None


routes = types.SimpleNamespace(main=app)
NOT_CALLABLE = "just a string"
