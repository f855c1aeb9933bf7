"""Render results as Markdown and write them into docs/benchmarks.md.

Contract: ``machine()`` and ``versions(wrk_text, repo)`` describe where and
with what a run happened (appserver's version carries the checkout's git
commit, whether ``appserver/`` had uncommitted changes, and whether its
plain-head splitter ran in C or in Python). ``render(summary, meta)`` returns the Markdown block:
run settings, machine and versions, the per-scenario table (each cell is
``appserver / Gunicorn (ratio)``), the issue's targets with the measured
value and met / not met, and every problem seen. When peers ran, it adds
``peer_table`` for CPU per request and req/s (every server's median, the
best peer, appserver over the best peer with the per-round range, and over
Gunicorn), issue 23's targets, issue 21's when a threads scenario ran, and
``meta["peers_note"]`` (peers skipped), and ``cross_check_parts``: CPU
per request three ways (process tree / the server's CPU busy / the load
client) for issue 23's rows, the servers' order by the first two figures,
and issue 23's targets read with the CPU's busy time,
and issue 24's section when a static scenario ran
(``benchmarks.static.parts``). ``replace_block(doc, block)`` puts ``block``
between ``START`` and ``END`` (appending both markers when absent) and leaves
the rest of the document as it is. ``console(summary)`` is the plain-text
table printed at the end of a run.
"""
import os
import platform
import subprocess
from importlib import metadata

from benchmarks import static, stats, wrk

START = "<!-- benchmarks:results:start -->"
END = "<!-- benchmarks:results:end -->"

COLUMNS = (  # (metric, heading)
    ("rps", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("cpu_us_per_req", "CPU µs/req"),
    ("rss_mib", "RSS MiB/worker"),
    ("startup_ms", "start→200 ms"),
    ("fairness", "busiest/median conn"),
)


def machine(cpuinfo_path="/proc/cpuinfo"):
    """CPU model, core count and kernel of this machine."""
    model = "unknown"
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(),
            "kernel": "%s %s" % (platform.system(), platform.release())}


def _dist_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(repo, *args):
    try:
        done = subprocess.run(["git", "-C", str(repo)] + list(args),
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_state(repo):
    """'git <commit>' of the checkout, noting uncommitted changes to appserver/."""
    commit = _git(repo, "rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    dirty = _git(repo, "status", "--porcelain", "--", "appserver")
    return "git %s%s" % (commit, ", with uncommitted changes in appserver/" if dirty else "")


def splitter():
    """Which plain-head splitter this checkout's appserver runs: the C twin
    when it was built (``pip install -e .``), else the Python one."""
    from appserver.http import plain
    return "Python" if plain.split is plain.split_python else "C"


def _checkout_version():
    """The version of the appserver the servers run: this checkout's, which
    need not be the one pip installed (or any)."""
    import appserver
    return appserver.__version__


def versions(wrk_text, repo):
    """Python, appserver (and its source state), Gunicorn, peers, Django, wrk versions."""
    return {"Python": platform.python_version(),
            "appserver": "%s (%s; plain-head splitter in %s)" % (
                _checkout_version(), source_state(repo), splitter()),
            "Gunicorn": _dist_version("gunicorn"),
            "Granian": _dist_version("granian"),
            "uWSGI (pyuwsgi)": _dist_version("pyuwsgi"),
            "bjoern (bjoern-binary)": _dist_version("bjoern-binary"),
            "Django": _dist_version("django"),
            "wrk": wrk.version(wrk_text or "")}


def num(value):
    """A figure for a table: '–' when missing, precision by magnitude."""
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return "{:,.0f}".format(value)
    if abs(value) >= 100:
        return "%.0f" % value
    if abs(value) >= 10:
        return "%.1f" % value
    return "%.2f" % value


def cell(entry, metric):
    """'appserver / gunicorn (ratio x)' for one metric of one scenario."""
    a, g = entry["appserver"][metric], entry["gunicorn"][metric]
    if a is None and g is None:
        return "–"
    r = entry["ratio"][metric]
    return "%s / %s (%s)" % (num(a), num(g), "%.2fx" % r if r is not None else "–")


def scenario_table(summary, descriptions=None):
    """The per-scenario Markdown table."""
    descriptions = descriptions or {}
    head = "| scenario | " + " | ".join(h for _, h in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    rows = [head, rule]
    for name, entry in summary.items():
        label = "`%s`" % name
        if descriptions.get(name):
            label += " – " + descriptions[name]
        rows.append("| %s | %s |" % (label, " | ".join(cell(entry, m) for m, _ in COLUMNS)))
    return "\n".join(rows)


def _met_text(met):
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def targets_table(rows):
    """The issue's targets next to the measured value."""
    out = ["| target | goal | measured | result |", "|---|---|---|---|"]
    for label, goal, value, met, note in rows:
        shown = "–" if value is None else ("%.3f" % value) + ("x" if goal.endswith("x") else "")
        if note:
            shown += " (%s)" % note
        out.append("| %s | %s | %s | %s |" % (label, goal, shown, _met_text(met)))
    return "\n".join(out)


NAMES = {"appserver": "appserver", "gunicorn": "Gunicorn", "granian": "Granian",
         "uwsgi": "uWSGI", "bjoern": "bjoern", "nginx": "nginx",
         "gthread": "Gunicorn gthread"}


def _peers(summary):
    seen = []
    for entry in summary.values():
        seen += [p for p in entry.get("peers", ()) if p not in seen]
    return seen


def _columns(summary, names):
    """The servers a table of the scenarios ``names`` shows: appserver and
    Gunicorn, then each peer that ran in at least one of them (nginx, run in
    the static scenario only, has no column in a table without it)."""
    peers = _peers({name: summary[name] for name in names})
    return list(stats.SERVERS) + peers


def _vs_best(entry, metric):
    best = entry["best"][metric]
    if best is None or entry["vs_best"][metric] is None:
        return "–"
    text = "%.2fx %s" % (entry["vs_best"][metric], NAMES.get(best, best))
    values = entry["values"]
    pairs = [stats.ratio(a, b) for a, b in zip(values["appserver"][metric], values[best][metric])]
    pairs = [v for v in pairs if v is not None]
    if len(pairs) > 1:
        text += " (rounds %.2f–%.2f)" % (min(pairs), max(pairs))
    return text


def peer_table(summary, metric):
    """Every server's median ``metric`` per scenario, against the best peer and Gunicorn."""
    servers = _columns(summary, list(summary))
    head = ("| scenario | " + " | ".join(NAMES.get(s, s) for s in servers)
            + " | appserver / best peer | appserver / Gunicorn |")
    rows = [head, "|---" * (len(servers) + 3) + "|"]
    for name, entry in summary.items():
        cells = [num(entry[s][metric]) if s in entry else "–" for s in servers]
        r = entry["ratio"][metric]
        rows.append("| `%s` | %s | %s | %s |" % (name, " | ".join(cells), _vs_best(entry, metric),
                                                 "%.2fx" % r if r is not None else "–"))
    return "\n".join(rows)


def peer_targets_table(rows):
    """Issue 23's targets next to the measured value."""
    out = ["| target | goal | measured | result |", "|---|---|---|---|"]
    for label, goal, value, met, note in rows:
        if value is None:
            shown = "–"
        elif goal.endswith("%"):
            shown = "%.0f %%" % (value * 100)
        else:
            shown = "%.3fx" % value
        if note:
            shown += " (%s)" % note
        out.append("| %s | %s | %s | %s |" % (label, goal, shown, _met_text(met)))
    return "\n".join(out)


def _peer_parts(summary, meta):
    if not _peers(summary):
        return ["### Peers", "", meta.get("peers_note") or "No peer ran in this run."]
    parts = ["### Against the peers (issue 23)", ""]
    if meta.get("peers_note"):
        parts += [meta["peers_note"], ""]
    parts += ["CPU µs per request, medians over the rounds (lower is better):", "",
              peer_table(summary, "cpu_us_per_req"), "",
              "Requests per second, medians over the rounds (higher is better):", "",
              peer_table(summary, "rps"), "",
              "#### Targets (issue 23) against this run", "",
              peer_targets_table(stats.evaluate_peers(summary))]
    threads = stats.evaluate_threads(summary)
    if threads:
        parts += ["", "#### Targets (issue 21) against this run", "",
                  "appserver `--threads 4` against Gunicorn `-k gthread --threads 4`, "
                  "both with the run's workers; p99 from the load client, of the fast "
                  "requests only.", "", peer_targets_table(threads)]
    cross = cross_check_parts(summary)
    return parts + ([""] + cross if cross else [])


def _order(names):
    return " < ".join(NAMES.get(n, n) for n in names) or "–"


def cross_check_parts(summary):
    """Issue 23's rows with CPU per request three ways, or [] when the run
    has no CPU busy figure (an unpinned run)."""
    rows = stats.cross_check(summary)
    if not any(by_core for _, _, by_core in rows):
        return []
    servers = _columns(summary, [name for name, _, _ in rows])
    out = ["#### CPU per request three ways", "",
           "Each cell: µs per request from the server's process tree (what the targets "
           "read) / from the busy time of the server's CPU (user, nice, system, irq, "
           "softirq in /proc/stat, whatever ran there) / of the load client, medians over "
           "the rounds. Then the servers from the cheapest up by the first two figures.", "",
           "| scenario | " + " | ".join(NAMES.get(s, s) for s in servers)
           + " | order by process tree | order by CPU busy |",
           "|---" * (len(servers) + 3) + "|"]
    for name, by_tree, by_core in rows:
        entry = summary[name]
        cells = [" / ".join(num(entry[s][m]) for m in stats.CPU_VIEWS) if s in entry else "–"
                 for s in servers]
        core = "same" if by_core == by_tree else _order(by_core)
        out.append("| `%s` | %s | %s | %s |" % (name, " | ".join(cells), _order(by_tree), core))
    out += ["", "Issue 23's CPU targets read with the busy time of the server's CPU instead:",
            "", peer_targets_table(stats.evaluate_peers(summary, "core_us_per_req"))]
    return out


def problems_text(summary):
    """A bullet per problem seen, or a line saying there were none."""
    lines = ["- `%s`: %s" % (name, p.replace("\n", " ⏎ "))
             for name, entry in summary.items() for p in entry["problems"]]
    return "\n".join(lines) if lines else "None: no failed start, socket error or non-2xx response."


def _settings_line(meta):
    return ("%(rounds)d rounds × %(duration)d s per server and scenario (after a "
            "%(warmup)d s warm-up), servers interleaved round by round, "
            "%(workers)d workers each; %(pinning)s; %(isolation)s. Run finished %(when)s."
            % dict({"isolation": "one shared loopback"}, **meta))


def render(summary, meta, descriptions=None):
    """The whole generated Markdown block (without the markers)."""
    m, v = meta["machine"], meta["versions"]
    vtext = ", ".join("%s %s" % (k, v[k] or "–") for k in v)
    parts = [_settings_line(meta), ""]
    if meta.get("load_average"):
        parts += ["Load average of the machine (1, 5, 15 min): %s." % meta["load_average"], ""]
    parts += [
        "Machine: %s, %s cores, %s. Versions: %s." % (m["cpu"], m["cores"], m["kernel"], vtext),
        "",
        "Each cell: appserver / Gunicorn (ratio appserver/Gunicorn), medians over the rounds.",
        "",
        scenario_table(summary, descriptions),
        "",
        "### Targets (issue 7) against this run",
        "",
        targets_table(stats.evaluate(summary)),
        "",
    ] + _peer_parts(summary, meta) + static.parts(summary) + [
        "",
        "### Problems seen in this run",
        "",
        problems_text(summary),
    ]
    if meta.get("chart"):
        parts += ["", meta["chart"]]
    return "\n".join(parts)


def replace_block(doc, block, start=START, end=END):
    """``doc`` with the text between the markers replaced by ``block``."""
    new = "%s\n%s\n%s" % (start, block.strip("\n"), end)
    if start in doc and end in doc and doc.index(start) < doc.index(end):
        before = doc[:doc.index(start)]
        after = doc[doc.index(end) + len(end):]
        return before + new + after
    return doc.rstrip("\n") + "\n\n" + new + "\n"


def console(summary):
    """Plain-text table of medians and ratios for the terminal."""
    lines = ["%-12s %-10s %10s %9s %9s %11s %9s %9s %8s" % (
        "scenario", "server", "req/s", "p50 ms", "p99 ms", "CPU us/req",
        "RSS MiB", "start ms", "fair")]
    for name, entry in summary.items():
        for who in ("appserver", "gunicorn") + tuple(entry.get("peers", ())) + ("ratio",):
            row = entry[who]
            lines.append("%-12s %-10s " % (name, who) + " ".join(
                "%*s" % (w, num(row[m]))
                for m, w in zip([c for c, _ in COLUMNS], (10, 9, 9, 11, 9, 9, 8))))
        if entry.get("peers"):
            lines.append("%-12s %-10s CPU/req %s, req/s %s" % (
                name, "vs best", _vs_best(entry, "cpu_us_per_req"), _vs_best(entry, "rps")))
    return "\n".join(lines)
