"""Test app: answer with a file through ``wsgi.file_wrapper``.

Contract: ``GET /?n=N&cl=1|0&kind=file|bytesio`` answers 200
application/octet-stream with the N bytes of ``download.pattern(N)``, read
from a file in the record directory (``kind=file``, a real file with a
``fileno()`` that sendfile can use) or from an in-memory stream
(``kind=bytesio``, no ``fileno()``: the server must fall back to reading it).
``Content-Length`` is sent when ``cl=1`` (the default). Every call of the
file's ``close()`` is recorded as ``close <kind>`` in ``close.log``. Without
a ``wsgi.file_wrapper`` in environ the app answers 501. With ``fail=1`` the
file's close() raises ``RuntimeError("close failed")`` after it is recorded.
``raw`` is the bare app (so the server sees its own wrapper); ``application``
is the same wrapped in ``wsgiref.validate``.
"""
import io
import os
from urllib.parse import parse_qs
from wsgiref.validate import validator

from _record import record
from download import pattern


class TrackedFile(io.FileIO):
    """A real file that records its close() calls (and then fails, if told)."""

    fail = False

    def close(self):
        if not self.closed:
            record("close.log", "close file")
        super().close()
        if self.fail:
            raise RuntimeError("close failed")


class TrackedBytes(io.BytesIO):
    """An in-memory stream (no fileno) that records its close() calls."""

    def close(self):
        if not self.closed:
            record("close.log", "close bytesio")
        super().close()


def _data_file(n):
    directory = os.environ.get("TESTAPP_RECORD_DIR") or "."
    path = os.path.join(directory, f"data-{n}.bin")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            for piece in pattern(n):
                f.write(piece)
        os.replace(tmp, path)
    return path


def _app(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(query.get("n", ["100000"])[0])
    kind = query.get("kind", ["file"])[0]
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None:
        start_response("501 Not Implemented",
                       [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]
    if kind == "file":
        stream = TrackedFile(_data_file(n), "rb")
        stream.fail = query.get("fail", ["0"])[0] == "1"
    else:
        stream = TrackedBytes(b"".join(pattern(n)))
    headers = [("Content-Type", "application/octet-stream")]
    if query.get("cl", ["1"])[0] == "1":
        headers.append(("Content-Length", str(n)))
    start_response("200 OK", headers)
    return wrapper(stream, 65536)


application = validator(_app)
raw = _app
