"""The scoreboard: one shared anonymous mmap, one fixed-size slot per worker.

The arbiter creates it before forking, so every worker inherits the same
memory. A worker writes only its own slot (``Slot``): its state, a heartbeat
on every turn of its loop and around every request, the time of its last
loop turn apart (peers read it to tell whether a worker has run its loop,
which a request's heartbeat does not say), the count of requests served, the
connections it holds, and the current request's start time and line. The
arbiter reads all slots (``Scoreboard.read``) to detect stuck workers; status
pages and metrics read the same records, and workers read each other's load
(``Slot.peers``) to share new connections out (``appserver.worker.balance``).
Nothing here touches the disk. From ``STATS_OFFSET`` on, a slot holds the
worker's request counters (``appserver.observe.metrics``): ``counters(index)``
is the worker's writer, ``stats(index)`` a snapshot.

A slot ends with ``rows`` thread rows (the arbiter makes room for the most
threads a worker may have, so a HUP that raises ``--threads`` needs no new
map); a worker with a thread pool says how many it uses (``Slot.use_rows``),
one per pool thread (``Row``): the state (idle or busy), the start and the
line of the request that thread runs. Only the rows in use are read, and
only those are touched, so the others cost address space, not memory. Each
thread writes only its own row;
the worker's own fields then count in requests: the slot is ``busy`` only
while every thread is, and ``requests`` counts every request of the worker.
``read`` returns the rows as ``SlotInfo.threads`` (empty without threads).
``running(info)`` and ``request_slots(info)`` read a ``SlotInfo`` the same
way with or without threads: the requests in the app, busy and idle slots.

Times are ``time.monotonic()`` values, which on Linux share one clock across
processes. Reads are not atomic with writes: a reader may see a slot mid-update,
which is harmless as long as each field a reader acts on changes in one store.
``struct.pack_into`` is no such store (it zero-fills its region before it
packs), so a worker's own writes go through memoryview cells, one aligned
store per field.
"""

import enum
import mmap
import struct
from collections import namedtuple

from appserver.observe import metrics



class WorkerState(enum.IntEnum):
    """A worker's (or a thread row's) state: one byte of its slot. ``label``
    is how status pages and metrics name it."""

    EMPTY = 0
    BOOTING = 1
    IDLE = 2
    BUSY = 3
    DRAINING = 4

    @property
    def label(self):
        return self.name.lower()


# The same states as plain ints, for the stores and comparisons of every
# request (an IntEnum member costs a little more in each).
EMPTY, BOOTING, IDLE, BUSY, DRAINING = map(int, WorkerState)

SLOT_SIZE = 1024        # a slot without thread rows
STATS_OFFSET = 256      # appserver.observe.metrics cells, up to SLOT_SIZE
LINE_SIZE = 192
# pid, recycle flag, connections held, boot time, rss, then state, requests,
# heartbeat, request start, request line (the last five change at the start
# and at the end of every request), then the last loop turn (only ``beat``).
_LAYOUT = struct.Struct("<iBxHdQB7xQdd%dsd" % LINE_SIZE)
# pid, recycle, connections, state, request start, last loop turn
_PEER = "iBxH16xB23xd%dxd" % LINE_SIZE
_PID = struct.Struct("<i")
_ROWS = struct.Struct("<H")
_STATE = struct.Struct("<B")
_OFF_RECYCLE = 4
_OFF_LAST = 5           # a padding byte of _LAYOUT: "no serving worker remains"
_OFF_CONNECTIONS = 6
_OFF_ROWS = 26          # a padding cell of _LAYOUT: the thread rows in use
_OFF_RSS = 16
_OFF_STATE = 24
_OFF_REQUESTS = 32
_OFF_HEARTBEAT = 40
_OFF_START = 48
_OFF_LINE = 56
_OFF_TURN = _OFF_LINE + LINE_SIZE
_BLANK_LINE = bytes(LINE_SIZE)
_cells = {}                 # request line -> its cell (line_cell), for lines that repeat
_CELLS_MAX = 256
# A thread row: state, request start, request line.
_ROW = struct.Struct("<B7xd%ds" % LINE_SIZE)
ROW_SIZE = _ROW.size
_ROW_START = 8
_ROW_LINE = 16
assert _LAYOUT.size <= STATS_OFFSET and STATS_OFFSET + metrics.SIZE <= SLOT_SIZE
assert ROW_SIZE % 8 == 0

# ``recycle``: 0, or why the worker asks to be replaced (``Slot.ask_recycle``).
RECYCLE_MAX_REQUESTS, RECYCLE_TIMEOUT = 1, 2

SlotInfo = namedtuple(
    "SlotInfo",
    "index pid state recycle requests heartbeat request_start boot_time rss request_line "
    "connections threads", defaults=((),))

# One thread row as read: IDLE or BUSY, the request's start (0.0: none), its line.
ThreadInfo = namedtuple("ThreadInfo", "state request_start request_line")


def line_cell(line):
    """A request line (str) as the bytes its slot cell holds: latin-1,
    truncated or zero-padded to ``LINE_SIZE`` (kept for lines that repeat)."""
    cell = _cells.get(line)
    if cell is None:
        cell = line.encode("latin-1")[:LINE_SIZE].ljust(LINE_SIZE, b"\0")
        if len(_cells) < _CELLS_MAX:
            _cells[line] = cell
    return cell


def slot_size(threads):
    """Bytes of one slot for workers of ``threads`` pool threads."""
    return SLOT_SIZE + threads * ROW_SIZE


class Scoreboard:
    """The shared table; ``slots`` bounds how many workers can be tracked,
    ``threads`` is the thread rows of each slot (the pool threads of each
    worker, ``config.loading.pool_threads``; 0: none)."""

    def __init__(self, slots=1024, threads=0):
        self.slots = slots
        self.rows = threads
        self.size = slot_size(threads)
        self._mem = mmap.mmap(-1, slots * self.size)

    def claim(self, index, pid, now):
        """Reset slot ``index`` for a new worker ``pid`` (called by the arbiter):
        no thread rows in use until the worker says (its rows stay untouched)."""
        base = index * self.size
        self._mem[base:base + SLOT_SIZE] = bytes(SLOT_SIZE)
        _LAYOUT.pack_into(self._mem, base, pid, 0, 0, now, 0, BOOTING, 0, now, 0.0, b"",
                          0.0)
        return self.slot(index)

    def release(self, index):
        """Mark slot ``index`` free after its worker exited."""
        _PID.pack_into(self._mem, index * self.size, 0)      # peers skip it from now
        _STATE.pack_into(self._mem, index * self.size + _OFF_STATE, EMPTY)

    def read(self, index):
        """A ``SlotInfo`` snapshot of one slot."""
        base = index * self.size
        pid, recycle, conns, boot, rss, state, requests, beat, start, line, _ = \
            _LAYOUT.unpack_from(self._mem, base)
        return SlotInfo(index, pid, state, recycle, requests, beat, start,
                        boot, rss, _text(line), conns, self._rows(base))

    def _rows(self, base):
        rows = []
        used = min(_ROWS.unpack_from(self._mem, base + _OFF_ROWS)[0], self.rows)
        for offset in range(base + SLOT_SIZE, base + SLOT_SIZE + used * ROW_SIZE,
                            ROW_SIZE):
            state, start, line = _ROW.unpack_from(self._mem, offset)
            rows.append(ThreadInfo(state, start, _text(line)))
        return tuple(rows)

    def set_last(self, index):
        """Tell slot ``index``'s worker that no serving worker will remain
        once it stops: it closes its connections instead of passing them on."""
        _STATE.pack_into(self._mem, index * self.size + _OFF_LAST, 1)

    def set_pid(self, index, pid):
        _PID.pack_into(self._mem, index * self.size, pid)

    def set_rss(self, index, rss):
        struct.pack_into("<Q", self._mem, index * self.size + _OFF_RSS, rss)

    def counters(self, index):
        """The metrics writer for slot ``index`` (used by its worker)."""
        return metrics.Counters(self._mem, index * self.size + STATS_OFFSET)

    def stats(self, index):
        """A snapshot of slot ``index``'s metric cells (``metrics.read``)."""
        return metrics.read(self._mem, index * self.size + STATS_OFFSET)

    def slot(self, index):
        """The writer for slot ``index`` (used by the worker that owns it)."""
        return Slot(self._mem, index, self.size, self.rows)


def _text(line):
    return line.rstrip(b"\0").decode("latin-1")


class Slot:
    """A worker's writer for its own slot: one store per field (see the
    module comment), through the memoryview cells of the shared map."""

    __slots__ = ("_mem", "_base", "_index", "_size", "rows", "requests", "_peers",
                 "_bytes", "_q", "_d", "_conns", "_conns_at", "_state", "_count", "_beat",
                 "_start", "_line", "_turn")

    def __init__(self, mem, index, size=SLOT_SIZE, rows=0):
        self._mem = mem
        self._base = base = index * size
        self._index = index
        self._size = size
        self.rows = rows            # thread rows (``row``)
        self.requests = 0
        self._peers = None
        self._bytes = memoryview(mem)
        self._q = self._bytes.cast("Q")
        self._d = self._bytes.cast("d")
        self._conns = self._bytes.cast("H")
        self._conns_at = (base + _OFF_CONNECTIONS) // 2    # "H" cell
        self._state = base + _OFF_STATE                 # byte index
        self._count = (base + _OFF_REQUESTS) // 8       # "Q" cell
        self._beat = (base + _OFF_HEARTBEAT) // 8       # "d" cell
        self._start = (base + _OFF_START) // 8          # "d" cell
        self._line = slice(base + _OFF_LINE, base + _OFF_LINE + LINE_SIZE)
        self._turn = (base + _OFF_TURN) // 8           # "d" cell

    def set_connections(self, count):
        """Publish how many connections this worker holds."""
        self._conns[self._conns_at] = count if count < 0xFFFF else 0xFFFF

    def peers(self, count):
        """(state, connections, last loop turn, request start) of each live
        worker in the first ``count`` slots but this one: one read of all of
        them. The loop turn, not the heartbeat: a request's start and end
        stamp the heartbeat too, and say nothing of the loop having run."""
        count = min(count, len(self._mem) // self._size)
        if self._peers is None or self._peers[0] != count:
            gap = "%dx" % (self._size - struct.calcsize("<" + _PEER))
            fmt = "<" + gap.join([_PEER] * count)
            self._peers = count, struct.Struct(fmt)
        cells = self._peers[1].unpack_from(self._mem, 0)
        return [(cells[i + 3], cells[i + 2], cells[i + 5], cells[i + 4])
                for i in range(0, 6 * count, 6)
                if cells[i] != 0 and i != 6 * self._index]

    def beat(self, now):
        """A turn of the worker's loop: the heartbeat and the turn's time."""
        self._d[self._beat] = now
        self._d[self._turn] = now

    def set_state(self, state, now):
        self._bytes[self._state] = state
        self._d[self._beat] = now

    def counters(self):
        """The metrics writer for this slot (``appserver.observe.metrics.Counters``)."""
        return metrics.Counters(self._mem, self._base + STATS_OFFSET)

    def ask_recycle(self, why=RECYCLE_MAX_REQUESTS):
        """Ask the arbiter for a replacement (``why``: max-requests, or a
        request past its timeout in a threaded worker); keep serving."""
        _STATE.pack_into(self._mem, self._base + _OFF_RECYCLE, why)

    def last(self):
        """True if the arbiter said no serving worker will remain (``set_last``)."""
        return bool(_STATE.unpack_from(self._mem, self._base + _OFF_LAST)[0])

    def request_started(self, line, now):
        """Record a request line (bytes, truncated to fit; ``line_cell``
        makes it fit already) and mark busy."""
        if len(line) != LINE_SIZE:
            line = line[:LINE_SIZE].ljust(LINE_SIZE, b"\0")
        self._bytes[self._line] = line
        self._d[self._start] = now
        self._d[self._beat] = now
        self._bytes[self._state] = BUSY

    def request_finished(self, now):
        """Count the request, clear the line, and mark idle."""
        self.requests += 1
        self._q[self._count] = self.requests
        self._bytes[self._line] = _BLANK_LINE
        self._d[self._start] = 0.0
        self._d[self._beat] = now
        self._bytes[self._state] = IDLE

    def counted(self, now):
        """Count a request that ended on one of the worker's threads (the
        worker's loop calls this; the thread cleared its own ``Row``)."""
        self.requests += 1
        self._q[self._count] = self.requests
        self._d[self._beat] = now

    def use_rows(self, count):
        """Clear the first ``count`` thread rows and publish that this worker
        uses them (its pool's threads); the writers of those rows."""
        if count > self.rows:
            raise ValueError("%d thread rows asked, the slot has %d" % (count, self.rows))
        rows = [self.row(number) for number in range(count)]
        for row in rows:
            row.finished()
        _ROWS.pack_into(self._mem, self._base + _OFF_ROWS, count)
        return rows

    def row(self, number):
        """The writer of thread row ``number`` (0 .. rows - 1)."""
        return Row(self._bytes, self._base + SLOT_SIZE + number * ROW_SIZE)


class Row:
    """One pool thread's writer for its own row of the worker's slot: the
    request it runs (line and start) and whether it runs one."""

    __slots__ = ("_bytes", "_d", "_state", "_start", "_line")

    def __init__(self, mem, offset):
        self._bytes = mem
        self._d = mem.cast("d")
        self._state = offset
        self._start = (offset + _ROW_START) // 8
        self._line = slice(offset + _ROW_LINE, offset + _ROW_LINE + LINE_SIZE)

    def started(self, line, now):
        self._bytes[self._line] = line[:LINE_SIZE].ljust(LINE_SIZE, b"\0")
        self._d[self._start] = now
        self._bytes[self._state] = BUSY

    def finished(self):
        self._bytes[self._line] = _BLANK_LINE
        self._d[self._start] = 0.0
        self._bytes[self._state] = IDLE

    def set_idle(self):
        self._bytes[self._state] = IDLE


def running(info):
    """``(thread, start, line)`` of each request in the app in a ``SlotInfo``:
    thread is the row's number (from 1), or 0 for a worker without threads."""
    if info.threads:
        return [(number, row.request_start, row.request_line)
                for number, row in enumerate(info.threads, 1)
                if row.state == BUSY and row.request_start]
    if info.state == BUSY and info.request_start:
        return [(0, info.request_start, info.request_line)]
    return []


def request_slots(info):
    """``(busy, idle)``: of the requests a live worker can run at once, how
    many run and how many could start now (a worker without threads is one)."""
    if info.threads:
        busy = sum(1 for row in info.threads if row.state == BUSY)
        idle = sum(1 for row in info.threads if row.state == IDLE)
        return busy, idle if info.state == IDLE or info.state == BUSY else 0
    return int(info.state == BUSY), int(info.state == IDLE)
