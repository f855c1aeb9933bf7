"""PNG chart of a run: appserver/Gunicorn ratios per scenario.

Contract: ``available()`` tells whether matplotlib can be imported (it is
optional: only the benchmarks use it). ``draw(summary, path, title)`` writes
two bar charts, the appserver/Gunicorn ratio of CPU time per request and of
requests/s per scenario, each with the parity line at 1.0 and the issue's
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


def _targets(wanted):
    return {scenario: limit for _, scenario, metric, where, _, limit in stats.TARGETS
            if metric == wanted and where == "ratio" and scenario}


def _marks(ax, names, targets):
    marks = [(i, targets[n]) for i, n in enumerate(names) if n in targets]
    if marks:
        ax.scatter(*zip(*marks), marker="_", s=900, linewidths=2, color="#c44e52",
                   zorder=3, label="target (issue 7)")
        ax.legend(fontsize=8, loc="upper left")


def _bars(ax, names, values, color):
    heights = [v if v is not None else 0 for v in values]
    ax.bar(range(len(names)), heights, 0.6, color=color)
    for x, v in enumerate(values):
        text = "%.2f" % v if v is not None else "n/a"
        ax.annotate(text, (x, v or 0), ha="center", va="bottom", fontsize=8)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)


def draw(summary, path, title):
    """Write the ratio chart to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    cpu = [summary[n]["ratio"]["cpu_us_per_req"] for n in names]
    rps = [summary[n]["ratio"]["rps"] for n in names]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), dpi=100)
    _bars(top, names, cpu, "#4c72b0")
    _marks(top, names, _targets("cpu_us_per_req"))
    top.set_ylabel("CPU per request\nappserver / Gunicorn\n(lower is better)")
    top.set_title(title, fontsize=10)
    _bars(bottom, names, rps, "#dd8452")
    _marks(bottom, names, _targets("rps"))
    bottom.set_ylabel("requests/s\nappserver / Gunicorn\n(higher is better)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
