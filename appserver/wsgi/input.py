"""``wsgi.input``: the request body as a PEP 3333 input stream.

``Input`` pulls body bytes from a ``read_body()`` callable (the connection's:
it returns the next piece of body, or ``b""`` at the end of the message) and
never reads past the request's own body, so reading "everything" is safe
(``wsgi.input_terminated``). ``on_first_read`` runs once before the first read
(the connection uses it to send ``100 Continue``).
"""


class Input:
    """A read-only binary stream over one request body."""

    __slots__ = ("_read_body", "_buf", "_eof", "_on_first_read")

    def __init__(self, read_body, on_first_read=None):
        self._read_body = read_body
        self._buf = bytearray()
        self._eof = False
        self._on_first_read = on_first_read

    def _fill(self):
        """Append the next piece of body; False once the body is exhausted."""
        if self._eof:
            return False
        if self._on_first_read is not None:
            callback, self._on_first_read = self._on_first_read, None
            callback()
        data = self._read_body()
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _take(self, size):
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def read(self, size=-1):
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buf))
        while len(self._buf) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size=-1):
        if size is None:
            size = -1
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                end += 1
                break
            if 0 <= size <= len(self._buf):
                end = size
                break
            start = len(self._buf)
            if not self._fill():
                end = len(self._buf)
                break
        if 0 <= size < end:
            end = size
        return self._take(end)

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def started(self):
        """True once the app has tried to read (``100 Continue`` went out)."""
        return self._on_first_read is None

    def exhausted(self):
        """True once the whole body has been read from the connection."""
        return self._eof
