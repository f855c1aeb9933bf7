"""Test app whose import raises a RuntimeError (not an ImportError): the
module is found but cannot be executed."""


def broken_setup():
    raise RuntimeError("sv_boot_raise: database unreachable at import")


broken_setup()


def application(environ, start_response):  # never reached
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]
