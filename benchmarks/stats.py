"""Figures from runs: medians per server, ratios, and the issue's targets.

Contract: a *run* is a dict with ``scenario``, ``server``, ``round`` and the
figures in ``METRICS`` (any may be None), plus ``problems`` (list of str).
``summarize(runs)`` returns ``{scenario: {"appserver": {metric: median},
"gunicorn": {...}, "ratio": {metric: appserver/gunicorn}, "rounds": {server:
n}, "problems": [...]}}``, keeping scenario order of first appearance.
``fairness(counts)`` is busiest / median of per-connection request counts.
``values`` holds each server's per-round figures. ``evaluate(summary)``
checks ``TARGETS`` and returns rows ``(label, target text, measured value or
None, met: True/False/None, note)``; None means the figure is missing from
the run; the note names the worst scenario, or gives the per-round range
(for a ratio, round i of appserver over round i of Gunicorn). A target on
``POOLED`` scenarios takes the median of every run of each server (all
scenarios, all rounds) and names the worst scenario in its note.
"""
import statistics

SERVERS = ("appserver", "gunicorn")
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "rss_mib",
           "startup_ms", "fairness")


def median(values):
    """Median of the non-None values, or None when there are none."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def fairness(counts):
    """Busiest connection's requests over the median connection's."""
    mid = median(counts)
    return ratio(max(counts), mid) if counts else None


def _group(runs):
    grouped = {}
    for run in runs:
        entry = grouped.setdefault(run["scenario"], {s: [] for s in SERVERS})
        entry.setdefault(run["server"], []).append(run)
    return grouped


def _medians(runs):
    return {m: median([r.get(m) for r in runs]) for m in METRICS}


def summarize(runs):
    """Medians per scenario and server, and the appserver/gunicorn ratios."""
    summary = {}
    for name, by_server in _group(runs).items():
        entry = {s: _medians(by_server.get(s, [])) for s in SERVERS}
        entry["ratio"] = {m: ratio(entry["appserver"][m], entry["gunicorn"][m])
                          for m in METRICS}
        entry["rounds"] = {s: len(by_server.get(s, [])) for s in SERVERS}
        entry["values"] = {s: {m: [r.get(m) for r in by_server.get(s, [])] for m in METRICS}
                           for s in SERVERS}
        entry["problems"] = [p for s in SERVERS for r in by_server.get(s, [])
                             for p in r.get("problems", [])]
        summary[name] = entry
    return summary


# (label, scenario, metric, where, op, limit). scenario: one scenario, None
# for the worst scenario, or POOLED for the median of every run of each server.
# where: "ratio" (appserver/gunicorn) or "appserver" (absolute value).
# Start-up is pooled: every scenario starts the servers the same way, so its
# scenarios are repeats of one measurement, and the worst of 8 ratios of
# medians of 3 noisy starts would report the noise (one run gave 0.57 to 1.00
# for the same code path), not the start-up.
POOLED = "pooled"
TARGETS = (
    ("hello (keep-alive): CPU per request", "hello", "cpu_us_per_req", "ratio", "<=", 0.12),
    ("hello-close: CPU per request", "hello-close", "cpu_us_per_req", "ratio", "<=", 0.35),
    ("upload 1 MiB: CPU per request", "upload", "cpu_us_per_req", "ratio", "<=", 0.15),
    ("big 1 MiB: CPU per request", "big", "cpu_us_per_req", "ratio", "<=", 0.70),
    ("file 10 MiB: CPU per request", "file", "cpu_us_per_req", "ratio", "<=", 1.0),
    ("django: requests/s", "django", "rps", "ratio", ">=", 1.3),
    ("RSS per worker", None, "rss_mib", "ratio", "<=", 1.0),
    ("start to first 200", POOLED, "startup_ms", "ratio", "<=", 1.0),
    ("mixed: p99 of fast requests", "mixed", "p99_ms", "ratio", "<=", 1.0),
    ("fairness: busiest / median connection", "fairness", "fairness", "appserver", "<=", 3.0),
)


def target_text(where, op, limit):
    """How a target reads in the table, e.g. '≤ 0.12x'."""
    sign = "≤" if op == "<=" else "≥"
    suffix = "x" if where == "ratio" else ""
    return "%s %.2f%s" % (sign, limit, suffix)


def _round_range(entry, metric, where):
    """'rounds lo–hi' of the per-round figure (ratios pair round i of each server)."""
    mine = entry["values"]["appserver"][metric]
    if where == "ratio":
        theirs = entry["values"]["gunicorn"][metric]
        values = [ratio(a, b) for a, b in zip(mine, theirs)]
    else:
        values = list(mine)
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return "rounds %.2f–%.2f" % (min(values), max(values))


def _pooled(summary, metric):
    """(ratio of the medians of every run, note naming the worst scenario)."""
    samples = {s: [v for e in summary.values() for v in e["values"][s][metric]
                   if v is not None] for s in SERVERS}
    value = ratio(median(samples["appserver"]), median(samples["gunicorn"]))
    note = "median of %d runs each" % min(len(v) for v in samples.values())
    worst = _worst(summary, metric, "ratio")
    if worst is not None:
        note += "; worst scenario %s %.2fx" % (worst[1], worst[0])
    return value, note


def _worst(summary, metric, where):
    """(highest figure, its scenario), or None when no scenario has one."""
    found = [(e[where][metric], name) for name, e in summary.items()
             if e[where][metric] is not None]
    return max(found) if found else None


def _measured(summary, scenario, metric, where):
    """(value, note) of one target's figure; the worst scenario when None."""
    if scenario == POOLED:
        return _pooled(summary, metric)
    if scenario is not None:
        entry = summary.get(scenario)
        if not entry:
            return None, ""
        note = _round_range(entry, metric, where)
        return entry[where][metric], note
    worst = _worst(summary, metric, where)
    if worst is None:
        return None, ""
    return worst[0], "worst: %s" % worst[1]


def evaluate(summary):
    """Rows (label, target text, measured, met, note) for every target."""
    rows = []
    for label, scenario, metric, where, op, limit in TARGETS:
        value, note = _measured(summary, scenario, metric, where)
        met = None if value is None else (value <= limit if op == "<=" else value >= limit)
        rows.append((label, target_text(where, op, limit), value, met, note))
    return rows
