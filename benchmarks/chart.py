"""PNG chart of a run: appserver/Gunicorn ratios per scenario.

Contract: ``available()`` tells whether matplotlib can be imported (it is
optional: only the benchmarks use it). ``draw(summary, path, title)`` writes
a bar chart of the appserver/Gunicorn ratio of CPU time per request and of
requests/s for each scenario, with the parity line at 1.0 and the issue's CPU
targets as markers; it returns the path written.
"""
from benchmarks import stats


def available():
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _cpu_targets():
    return {scenario: limit for _, scenario, metric, where, _, limit in stats.TARGETS
            if metric == "cpu_us_per_req" and where == "ratio"}


def _bars(ax, names, values, offset, width, label, color):
    xs = [i + offset for i in range(len(names))]
    heights = [v if v is not None else 0 for v in values]
    ax.bar(xs, heights, width, label=label, color=color)
    for x, v in zip(xs, values):
        text = "%.2f" % v if v is not None else "n/a"
        ax.annotate(text, (x, v or 0), ha="center", va="bottom", fontsize=7)


def draw(summary, path, title):
    """Write the ratio chart to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    cpu = [summary[n]["ratio"]["cpu_us_per_req"] for n in names]
    rps = [summary[n]["ratio"]["rps"] for n in names]
    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=110)
    _bars(ax, names, cpu, -0.2, 0.4, "CPU time per request (lower is better)", "#4c72b0")
    _bars(ax, names, rps, 0.2, 0.4, "requests/s (higher is better)", "#dd8452")
    targets = _cpu_targets()
    marks = [(i - 0.2, targets[n]) for i, n in enumerate(names) if n in targets]
    if marks:
        ax.scatter(*zip(*marks), marker="_", s=400, color="black", zorder=3,
                   label="CPU target (issue 7)")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("appserver / Gunicorn")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
