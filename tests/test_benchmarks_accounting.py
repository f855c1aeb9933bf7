"""Tests of the harness's CPU cross-check and of uWSGI's HTTP front per scenario.

Contract: the per-CPU busy time read from /proc/stat text (sample texts,
a fake /proc root), the three CPU figures per request a run yields, the
servers' order by each figure, the report's cross-check section, and the
uWSGI command line each scenario gets. Nothing is started.
"""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import procstat, report, run, scenarios, stats  # noqa: E402
from benchmarks.servers import UWSGI_MODES, server_argv  # noqa: E402

PROC_STAT = """\
cpu  1893582 0 475942 1898157 5884 0 72970 333 0 0
cpu0 902818 3 218506 1012149 1491 7 35440 170 0 0
cpu1 990764 0 257436 886008 4393 0 37529 162 0 0
intr 54480440 0 0 0
ctxt 123456
btime 1765000000
softirq 1 2 3
"""

OLD_KERNEL = "cpu  10 20 30 40\ncpu0 1 2 3 4\n"


def test_cpu_lines_skip_the_total_and_other_rows():
    lines = procstat.cpu_lines(PROC_STAT)
    assert sorted(lines) == [0, 1]
    assert lines[0]["user"] == 902818 and lines[0]["softirq"] == 35440
    assert lines[0]["steal"] == 170 and lines[1]["idle"] == 886008
    assert procstat.cpu_lines(OLD_KERNEL) == {0: {"user": 1, "nice": 2, "system": 3, "idle": 4}}


def test_busy_ticks_count_user_nice_system_irq_softirq_only():
    busy = procstat.busy_ticks(procstat.cpu_lines(PROC_STAT)[0])
    assert busy == 902818 + 3 + 218506 + 7 + 35440        # no idle, iowait or steal
    assert procstat.busy_ticks(procstat.cpu_lines(OLD_KERNEL)[0]) == 1 + 2 + 3


def test_cpu_busy_ticks_from_a_proc_root(tmp_path):
    (tmp_path / "stat").write_text(PROC_STAT)
    assert procstat.cpu_busy_ticks(1, str(tmp_path)) == 990764 + 257436 + 37529
    assert procstat.cpu_busy_ticks(2, str(tmp_path)) is None
    assert procstat.cpu_busy_ticks(0, str(tmp_path / "absent")) is None


def test_per_request_gives_three_figures_and_leaves_out_what_it_cannot_have():
    ticks = procstat.CLK_TCK
    out = run.per_request((0, 1000), (ticks, 1000 + 3 * ticks),
                          {"requests": 1000, "client_cpu_s": 0.5})
    assert out["cpu_s"] == 1.0 and out["core_busy_s"] == 3.0
    assert abs(out["cpu_us_per_req"] - 1000.0) < 1e-9
    assert abs(out["core_us_per_req"] - 3000.0) < 1e-9
    assert abs(out["client_us_per_req"] - 500.0) < 1e-9
    unpinned = run.per_request((0, None), (ticks, None), {"requests": 10, "client_cpu_s": None})
    assert "core_us_per_req" not in unpinned and "client_us_per_req" not in unpinned
    assert "cpu_us_per_req" not in run.per_request((0, 0), (ticks, ticks), {"requests": 0})


def test_children_cpu_grows_with_a_waited_child():
    import subprocess
    before = run.children_cpu_s()
    subprocess.run([sys.executable, "-c", "sum(range(3000000))"], check=True)
    assert run.children_cpu_s() > before


def _runs(figures, scenario="hello"):
    """Runs of ``scenario``: {server: [(tree, core, client) per round]}."""
    out = []
    for server, rounds in figures.items():
        for rnd, (tree, core, client) in enumerate(rounds, 1):
            base = dict.fromkeys(stats.METRICS)
            base.update(scenario=scenario, server=server, round=rnd, problems=[],
                        cpu_us_per_req=tree, core_us_per_req=core, client_us_per_req=client)
            out.append(base)
    return out


SAME = {"appserver": [(20.0, 25.0, 10.0)] * 2, "gunicorn": [(200.0, 210.0, 50.0)] * 2,
        "granian": [(15.0, 30.0, 8.0)] * 2}


def test_ranking_and_cross_check_tell_when_the_order_changes():
    summary = stats.summarize(_runs(SAME))
    assert stats.ranking(summary["hello"], "cpu_us_per_req") == ["granian", "appserver",
                                                                  "gunicorn"]
    [(name, by_tree, by_core)] = stats.cross_check(summary)
    assert name == "hello" and by_core == ["appserver", "granian", "gunicorn"] != by_tree
    rows = {r[0]: r for r in stats.evaluate_peers(summary, "core_us_per_req")}
    assert abs(rows["hello: CPU per request"][2] - 25.0 / 30.0) < 1e-12
    assert rows["hello: CPU per request"][3] is True
    assert "appserver CPU per request, round-to-round spread" not in rows
    assert rows["hello: CPU per request"][2] != stats.evaluate_peers(summary)[0][2]


def test_report_shows_three_figures_and_both_orders():
    text = "\n".join(report.cross_check_parts(stats.summarize(_runs(SAME))))
    assert "| `hello` | 20.0 / 25.0 / 10.0 | 200 / 210 / 50.0 | 15.0 / 30.0 / 8.00 |" in text
    assert "Granian < appserver < Gunicorn | appserver < Granian < Gunicorn |" in text
    assert "| hello: CPU per request | ≤ 1.00x granian | 0.833x (rounds 0.83–0.83) | met |" in text
    unpinned = {s: [(t, None, c) for t, _, c in r] for s, r in SAME.items()}
    assert report.cross_check_parts(stats.summarize(_runs(unpinned))) == []


def test_a_peer_that_ran_in_no_row_of_a_table_has_no_column_there():
    """nginx runs only in the static scenario: it has a column in the peer
    tables (static is a row there) but none among the CPU three ways."""
    static = {"appserver": [(50.0, 55.0, 20.0)] * 2, "gunicorn": [(400.0, 410.0, 60.0)] * 2,
              "nginx": [(25.0, 27.0, 20.0)] * 2}
    summary = stats.summarize(_runs(SAME) + _runs(static, "static"))
    cross = "\n".join(report.cross_check_parts(summary))
    assert "| scenario | appserver | Gunicorn | Granian | order by process tree |" in cross
    assert "nginx" not in cross and "static" not in cross
    assert "| `hello` | 20.0 / 25.0 / 10.0 | 200 / 210 / 50.0 | 15.0 / 30.0 / 8.00 |" in cross
    table = report.peer_table(summary, "cpu_us_per_req").splitlines()
    assert table[0].startswith("| scenario | appserver | Gunicorn | Granian | nginx |")
    assert table[2].startswith("| `hello` | 20.0 | 200 | 15.0 | – |")
    assert table[3].startswith("| `static` | 50.0 | 400 | – | 25.0 |")


def test_uwsgi_front_per_scenario():
    by_name = {s.name: s.uwsgi_mode for s in scenarios.SCENARIOS}
    assert by_name["hello"] == by_name["file"] == by_name["upload"] == "keep-alive"
    assert by_name["hello-close"] == "close" and by_name["big"] == "chunked"
    assert set(by_name.values()) <= set(UWSGI_MODES)

    def argv(mode):
        return server_argv("uwsgi", "a:b", 8000, 2, "/apps", uwsgi_mode=mode)
    keep = argv("keep-alive")
    assert keep[keep.index("--http11-socket") + 1] == "127.0.0.1:8000"
    assert "--http-socket" not in keep and "--route-run" not in keep
    chunked = argv("chunked")
    assert chunked[chunked.index("--route-run") + 1] == "chunked:" and "--http11-socket" in chunked
    close = argv("close")
    assert close[close.index("--http-socket") + 1] == "127.0.0.1:8000"
    assert close[close.index("--add-header") + 1] == "Connection: close"
    assert server_argv("appserver", "a:b", 8000, 2, uwsgi_mode="close") == \
        server_argv("appserver", "a:b", 8000, 2)
