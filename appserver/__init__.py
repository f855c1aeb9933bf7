"""appserver: a pre-fork WSGI application server.

The package's public surface is the ``appserver`` command (``appserver.cli``);
everything else is internal and may change between releases.
"""

__version__ = "0.1.0"
SERVER_SOFTWARE = "appserver/" + __version__
