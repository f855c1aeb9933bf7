"""Sockets: the listening sockets and each client connection.

``sockets`` binds, inherits and closes the listeners; ``connection`` is one
client connection, its states and deadlines, and the only socket I/O in the
request path; ``io_timeouts`` sets the kernel's socket timeouts; ``tls``
builds the ``ssl.SSLContext`` from the settings.
"""
