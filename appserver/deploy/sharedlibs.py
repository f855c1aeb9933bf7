"""Load, before the workers fork, the C extensions most WSGI apps load anyway.

Contract: ``preload()`` imports ``_ssl``, ``_hashlib``, ``_decimal`` and
``unicodedata`` (each skipped when this Python lacks it) and returns the names
it loaded. Called once by the arbiter before it records its base modules.

Why: a worker that imports an extension itself maps its shared library
(OpenSSL's libcrypto is several MiB) and relocates and initialises it in
pages of its own, once per worker. Loaded in the arbiter, those pages are
shared by every worker, copy-on-write: a Django worker is about 2 MiB
smaller. Only the C modules are loaded (about 8 ms), not the Python modules
around them (``ssl``, ``decimal``): those stay for the app to import, or the
TLS setting (``appserver.net.tls``), and cost a worker that does not use them
nothing. With ``preload`` the app itself is loaded in the arbiter too.
"""
import importlib

EXTENSIONS = ("_ssl", "_hashlib", "_decimal", "unicodedata")


def preload():
    """Import each of ``EXTENSIONS`` that exists; the names imported."""
    loaded = []
    for name in EXTENSIONS:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        loaded.append(name)
    return loaded
