"""Test app: read the whole body with one ``wsgi.input.read()`` and report
what that cost the worker in memory. Not wrapped in ``wsgiref.validate``,
which refuses ``read()`` without a size.

Contract: before reading, the peak RSS (VmHWM) is reset to the current RSS
(``/proc/self/clear_refs``, Linux); the response is 200 application/json
``{"length": N, "rss_before": B, "peak": P, "reset": bool}`` in bytes, where
``peak`` is VmHWM after the read (``reset`` false when the kernel refused the
reset: ``peak`` may then predate the request).
"""
import json


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def application(environ, start_response):
    reset = _reset_peak()
    before = _status_kb("VmRSS")
    data = environ["wsgi.input"].read()
    out = json.dumps({"length": len(data), "rss_before": before,
                      "peak": _status_kb("VmHWM"), "reset": reset}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]

