"""Static files answered by the worker's loop, without the app.

``paths`` maps URL prefixes to directories and resolves a request path
safely; ``reply`` decides the response (status, head, file and range).
Neither touches a socket: the connection sends the ``Reply``.
"""

from appserver.static.paths import Mount, NotFound, parse_mount  # noqa: F401
from appserver.static.reply import Reply, StaticFiles  # noqa: F401
