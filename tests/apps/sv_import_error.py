"""Test app whose import fails with an ImportError: it imports a module
that does not exist."""
import sv_no_such_module_anywhere  # noqa: F401


def application(environ, start_response):  # never reached
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]
