"""``wsgi.input``: the request body as a PEP 3333 input stream.

``Input`` pulls body bytes from a ``read_body(size)`` callable (the
connection's: it returns the next piece of body, at most ``size`` bytes and
waiting for them all if it can, or what comes next for ``None``; ``b""`` at
the end of the message) and never reads past the
request's own body, so reading "everything" is safe
(``wsgi.input_terminated``). ``on_first_read`` runs once before the first read
(the connection uses it to send ``100 Continue``). A sized ``read`` asks for
just what it lacks and hands a piece that fits back as is: a body read in
large blocks is not copied on its way to the app. ``read()`` of everything
gathers the body in one buffer sized from ``length`` (the request's
Content-Length, when it has one) and hands that buffer over without a copy:
reading an N-byte body costs about N bytes, not the pieces and then their
join, and memory is taken only as bytes arrive. ``EMPTY`` is the stream of
every request that has no body: already at its end, it holds no state and is
shared.
"""
from __future__ import annotations

import io
from typing import Callable, List, Optional, Union

PIECE = 1 << 20     # what read() asks for at a time when it reads everything

# read_body(size): the next piece of body, at most size bytes (None: what
# comes next); b"" at its end. A piece may be a bytearray or memoryview.
ReadBody = Callable[[Optional[int]], Union[bytes, bytearray, memoryview]]


class Input:
    """A read-only binary stream over one request body."""

    __slots__ = ("_read_body", "_buf", "_eof", "_on_first_read", "_left")

    def __init__(self, read_body: ReadBody,
                 on_first_read: Optional[Callable[[], None]] = None,
                 length: Optional[int] = None) -> None:
        self._read_body = read_body
        self._buf = bytearray()
        self._eof = False
        self._on_first_read = on_first_read
        self._left = length         # body bytes not yet pulled (None: unknown)

    def _piece(self, size: Optional[int]) -> Union[bytes, bytearray, memoryview]:
        """The next piece of body (``size`` bytes wanted, or None: what comes
        next, for ``readline``); ``b""`` at its end."""
        if self._eof:
            return b""
        if self._on_first_read is not None:
            callback, self._on_first_read = self._on_first_read, None
            callback()
        data = self._read_body(size)
        if not data:
            self._eof = True
        elif self._left is not None:
            self._left -= len(data)
        return data

    def _fill(self) -> bool:
        """Append the next piece of body; False once the body is exhausted."""
        data = self._piece(None)
        self._buf += data
        return bool(data)

    def _take(self, size: int) -> bytes:
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0:
            return self._read_all()
        if not self._buf and size:
            return self._read_fresh(size)
        while len(self._buf) < size and self._fill():
            pass
        return self._take(size)

    def _read_all(self) -> bytes:
        """The rest of the body. With a known length it is received into one
        buffer of its full size, and that buffer is what is returned."""
        left = self._left
        if not left or self._eof:
            return self._read_growing()
        try:
            # bytes(n) is calloc'd: its pages are used only as the body
            # fills them, so a length declared but not sent costs nothing.
            # BytesIO adopts it (no other reference: not copied on write)
            # and getvalue() hands it back, trimmed, without a copy.
            out = io.BytesIO(bytes(len(self._buf) + left))
        except MemoryError:             # a length no read could ever fill
            return self._read_growing()
        view = out.getbuffer()
        try:
            pos = len(self._buf)
            view[:pos] = self._buf
            self._buf = bytearray()
            data = self._piece(min(left, PIECE))
            while data:
                view[pos:pos + len(data)] = data
                pos += len(data)
                data = self._piece(min(self._left or 0, PIECE) or PIECE)
        finally:
            view.release()
        out.truncate(pos)           # a body cut short leaves no zeros behind
        return out.getvalue()

    def _read_growing(self) -> bytes:
        """The rest of a body of unknown length, gathered as it comes."""
        out = io.BytesIO(self._buf)
        out.seek(0, io.SEEK_END)
        self._buf = bytearray()
        data = self._piece(PIECE)
        while data:
            out.write(data)
            data = self._piece(PIECE)
        return out.getvalue()

    def _read_fresh(self, size: int) -> bytes:
        """``read(size)`` with nothing held: pieces are joined once, and one
        that is just the size wanted goes to the app as it is."""
        if self._on_first_read is None and not self._eof:
            data = self._read_body(size)    # _piece, inline: once per read
            if len(data) == size and type(data) is bytes:
                if self._left is not None:
                    self._left -= size
                return data         # the common case: one piece, all of it
            if not data:
                self._eof = True
            elif self._left is not None:
                self._left -= len(data)
        else:
            data = self._piece(size)
        parts: List[Union[bytes, bytearray, memoryview]] = []
        have = 0
        while data:
            parts.append(data)
            have += len(data)
            if have >= size:
                break
            data = self._piece(size - have)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if have > size:             # a piece longer than asked for: keep the rest
            self._buf += memoryview(data)[size:]
            return bytes(data[:size])
        return data if type(data) is bytes else bytes(data)

    def readline(self, size: Optional[int] = -1) -> bytes:
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

    def readlines(self, hint: Optional[int] = -1) -> List[bytes]:
        lines: List[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Input:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def started(self) -> bool:
        """True once the app has tried to read (``100 Continue`` went out)."""
        return self._on_first_read is None

    def exhausted(self) -> bool:
        """True once the whole body has been read from the connection."""
        return self._eof


def _at_end(size: Optional[int]) -> bytes:
    return b""


EMPTY = Input(_at_end)
EMPTY._eof = True
