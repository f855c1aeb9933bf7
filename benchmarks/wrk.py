"""wrk: build its command line and parse its ``--latency`` report.

Contract: ``command(url, ...)`` returns the argv for one bounded wrk run
(duration in whole seconds, one thread by default, ``--latency``, a
``--timeout``). ``parse(text)`` turns wrk's report into a dict: ``requests``
(completed), ``seconds``, ``rps``, ``p50_ms``, ``p99_ms``, ``socket_errors``
(dict: connect/read/write/timeout), ``non_2xx`` (wrk's "Non-2xx or 3xx"
count, i.e. status >= 400). It raises ``ValueError`` when the report has no
request count or rate (wrk failed). ``version(text)`` picks the version out
of ``wrk -v``.
"""
import re

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_PCT = re.compile(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_VERSION = re.compile(r"^wrk\s+(\S+)", re.M)


def command(url, duration, connections, threads=1, script=None, headers=(),
            timeout_s=10):
    """Argv for one wrk run against ``url``."""
    argv = ["wrk", "-t%d" % threads, "-c%d" % connections,
            "-d%ds" % max(1, int(duration)), "--latency",
            "--timeout", "%ds" % timeout_s]
    for header in headers:
        argv += ["-H", header]
    if script:
        argv += ["-s", str(script)]
    argv.append(url)
    return argv


def to_ms(value, unit):
    """Convert a wrk time (number and unit) to milliseconds."""
    return float(value) * _UNITS_MS[unit]


def percentiles(text):
    """Map percentile (float) -> latency in ms from the distribution block."""
    return {float(p): to_ms(v, u) for p, v, u in _PCT.findall(text)}


def parse(text):
    """Figures from one wrk ``--latency`` report."""
    req = _REQUESTS.search(text)
    rps = _RPS.search(text)
    if not req or not rps:
        raise ValueError("not a wrk report: %r" % text[-300:])
    pct = percentiles(text)
    sock = _SOCKET.search(text)
    keys = ("connect", "read", "write", "timeout")
    errors = dict(zip(keys, map(int, sock.groups()))) if sock else dict.fromkeys(keys, 0)
    non = _NON2XX.search(text)
    return {
        "requests": int(req.group(1)),
        "seconds": to_ms(req.group(2), req.group(3)) / 1000.0,
        "rps": float(rps.group(1)),
        "p50_ms": pct.get(50.0),
        "p99_ms": pct.get(99.0),
        "socket_errors": errors,
        "non_2xx": int(non.group(1)) if non else 0,
    }


def version(text):
    """The version word of ``wrk -v`` output, or ``None``."""
    found = _VERSION.search(text)
    return found.group(1) if found else None
