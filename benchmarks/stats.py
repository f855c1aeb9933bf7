"""Figures from runs: medians per server, ratios, and the issue's targets.

Contract: a *run* is a dict with ``scenario``, ``server``, ``round`` and the
figures in ``METRICS`` (any may be None), plus ``problems`` (list of str).
``summarize(runs)`` returns ``{scenario: {"appserver": {metric: median},
"gunicorn": {...}, "ratio": {metric: appserver/gunicorn}, "rounds": {server:
n}, "problems": ["server: problem", ...]}}``, keeping scenario order of first appearance.
``fairness(counts)`` is busiest / median of per-connection request counts.
``values`` holds each server's per-round figures. ``evaluate(summary)``
checks ``TARGETS`` and returns rows ``(label, target text, measured value or
None, met: True/False/None, note)``; None means the figure is missing from
the run; the note names the worst scenario, or gives the per-round range
(for a ratio, round i of appserver over round i of Gunicorn). A target on
``POOLED`` scenarios takes the median of every run of each server (all
scenarios, all rounds) and names the worst scenario in its note.

Peers (Granian, uWSGI, bjoern, ...) are any other ``server`` in the runs:
each scenario's entry also holds every peer's medians and values,
``"peers"`` (their names in order of first appearance), ``"best"``
(``{metric: name of the best peer}``, highest req/s, lowest of every other
figure; a zero figure is no measurement and never the best) and ``"vs_best"``
(``{metric: appserver / that peer}``). ``evaluate_peers(summary)`` checks
``PEER_TARGETS`` (issue 23) the same way as ``evaluate``, and appserver's own
round-to-round spread of CPU per request ((max - min) / median, worst of
``SPREAD_SCENARIOS``). ``evaluate_threads(summary)`` checks
``THREAD_TARGETS`` (issue 21: the threads scenarios against Gunicorn
gthread with the same workers and threads); an empty list when no threads
scenario ran.

CPU per request is measured three ways (``CPU_VIEWS``): the server's process
tree (``cpu_us_per_req``, what every target reads), the busy time of the
server's pinned CPU (``core_us_per_req``) and the load client's own CPU
(``client_us_per_req``). ``ranking(entry, metric)`` orders a scenario's
servers from the lowest median up; ``cross_check(summary)`` returns, for
each of ``CROSS_CHECK_SCENARIOS`` that ran, ``(scenario, ranking by the
process tree, ranking by the CPU's busy time)``, and
``evaluate_peers(summary, metric)`` reads issue 23's targets with another of
those figures.
"""
import statistics

SERVERS = ("appserver", "gunicorn")
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "rss_mib",
           "startup_ms", "fairness", "core_us_per_req", "client_us_per_req")


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


HIGHER_IS_BETTER = ("rps",)


def best_peer(entry, metric):
    """Name of the peer with the best median ``metric``, or None."""
    found = [(entry[p][metric], p) for p in entry["peers"] if entry[p][metric]]
    if not found:
        return None
    pick = max if metric in HIGHER_IS_BETTER else min
    return pick(found)[1]


def summarize(runs):
    """Medians per scenario and server, and the appserver/gunicorn ratios."""
    summary = {}
    for name, by_server in _group(runs).items():
        servers = list(SERVERS) + [s for s in by_server if s not in SERVERS]
        entry = {s: _medians(by_server.get(s, [])) for s in servers}
        entry["peers"] = servers[len(SERVERS):]
        entry["ratio"] = {m: ratio(entry["appserver"][m], entry["gunicorn"][m])
                          for m in METRICS}
        entry["best"] = {m: best_peer(entry, m) for m in METRICS}
        entry["vs_best"] = {m: ratio(entry["appserver"][m], entry[b][m]) if b else None
                            for m, b in entry["best"].items()}
        entry["rounds"] = {s: len(by_server.get(s, [])) for s in servers}
        entry["values"] = {s: {m: [r.get(m) for r in by_server.get(s, [])] for m in METRICS}
                           for s in servers}
        entry["problems"] = ["%s: %s" % (s, p) for s in servers for r in by_server.get(s, [])
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
        return _paired_range(mine, entry["values"]["gunicorn"][metric])
    return _paired_range(mine, [1.0] * len(mine))


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


# Issue 23: (label, scenario, metric, peer or BEST, op, limit), a ratio of
# appserver over the named peer, or over the best peer of that scenario.
BEST = "best peer"
PEER_TARGETS = (
    ("hello: CPU per request", "hello", "cpu_us_per_req", "granian", "<=", 1.0),
    ("hello-close: CPU per request", "hello-close", "cpu_us_per_req", "uwsgi", "<=", 1.0),
    ("big 1 MiB: CPU per request", "big", "cpu_us_per_req", "uwsgi", "<=", 1.0),
    ("file 10 MiB: CPU per request", "file", "cpu_us_per_req", "uwsgi", "<=", 1.0),
    ("upload 1 MiB: CPU per request", "upload", "cpu_us_per_req", BEST, "<=", 1.0),
)
# Issue 21: appserver with --threads against Gunicorn gthread, same workers and threads.
THREAD_TARGETS = (
    ("mixed, 4 threads: p99 of fast requests", "mixed-threads", "p99_ms", "gthread",
     "<=", 0.5),
    ("hello, 4 threads: CPU per request", "hello-threads", "cpu_us_per_req", "gthread",
     "<=", 0.5),
)
SPREAD_SCENARIOS = ("hello", "hello-close", "big", "upload", "file")
SPREAD_LIMIT = 0.15


def spread(values):
    """(max - min) / median of the non-None values, or None for fewer than 2."""
    values = [v for v in values if v is not None]
    if len(values) < 2 or not median(values):
        return None
    return (max(values) - min(values)) / median(values)


def _paired_range(mine, theirs):
    values = [ratio(a, b) for a, b in zip(mine, theirs)]
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return "rounds %.2f–%.2f" % (min(values), max(values))


def _peer_row(summary, label, scenario, metric, peer, op, limit):
    goal = "%s %.2fx %s" % ("≤" if op == "<=" else "≥", limit, peer)
    entry = summary.get(scenario)
    if entry is None:
        return label, goal, None, None, "scenario not run"
    name = entry["best"][metric] if peer == BEST else peer
    if name is None or name not in entry["peers"]:
        return label, goal, None, None, "%s not run" % (peer if peer != BEST else "no peer")
    value = ratio(entry["appserver"][metric], entry[name][metric])
    if value is None:
        return label, goal, None, None, "%s gave no figure" % name
    note = _paired_range(entry["values"]["appserver"][metric], entry["values"][name][metric])
    if peer == BEST:
        note = "vs %s; %s" % (name, note) if note else "vs %s" % name
    met = value <= limit if op == "<=" else value >= limit
    return label, goal, value, met, note


def _spread_row(summary):
    goal = "≤ %.0f %%" % (SPREAD_LIMIT * 100)
    found = [(spread(summary[n]["values"]["appserver"]["cpu_us_per_req"]), n)
             for n in SPREAD_SCENARIOS if n in summary]
    found = [(v, n) for v, n in found if v is not None]
    label = "appserver CPU per request, round-to-round spread"
    if not found:
        return label, goal, None, None, "fewer than 2 rounds"
    worst, name = max(found)
    note = "worst: %s; %s" % (name, ", ".join("%s %.0f %%" % (n, v * 100) for v, n in found))
    return label, goal, worst, worst <= SPREAD_LIMIT, note


def evaluate_peers(summary, metric="cpu_us_per_req"):
    """Rows (label, goal text, measured, met, note) for issue 23's targets,
    reading ``metric`` for the CPU per request (the spread row only with
    the default)."""
    rows = [_peer_row(summary, label, scenario, metric, *rest)
            for label, scenario, _, *rest in PEER_TARGETS]
    if metric == "cpu_us_per_req":
        rows.append(_spread_row(summary))
    return rows


CPU_VIEWS = ("cpu_us_per_req", "core_us_per_req", "client_us_per_req")
CROSS_CHECK_SCENARIOS = ("hello", "hello-close", "big", "upload", "file")


def ranking(entry, metric):
    """The scenario's servers from the lowest median ``metric`` up (those
    without the figure left out)."""
    servers = list(SERVERS) + list(entry.get("peers", ()))
    found = sorted((entry[s][metric], s) for s in servers
                   if s in entry and entry[s][metric] is not None)
    return [s for _, s in found]


def cross_check(summary):
    """(scenario, ranking by process tree, ranking by CPU busy) for each of
    ``CROSS_CHECK_SCENARIOS`` in the run."""
    return [(name, ranking(summary[name], "cpu_us_per_req"),
             ranking(summary[name], "core_us_per_req"))
            for name in CROSS_CHECK_SCENARIOS if name in summary]


def evaluate_threads(summary):
    """Rows (label, goal text, measured, met, note) for issue 21's targets,
    or [] when no threads scenario ran."""
    return [_peer_row(summary, *target) for target in THREAD_TARGETS
            if target[1] in summary]
