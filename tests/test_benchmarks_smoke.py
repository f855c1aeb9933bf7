"""Smoke tests of the benchmark harness's pure parts (no wrk, no Gunicorn).

Contract: covers wrk report parsing, CPU and RSS accounting on a fake /proc
tree (children files and the scan fallback), medians, ratios, fairness,
target evaluation, Markdown rendering and marker replacement, the load
client's response-head parsing, and the command lines the harness builds.
No server is started and nothing is sent on the network.
"""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import loadclient, procstat, report, run, scenarios, stats, wrk  # noqa: E402
from benchmarks.servers import (GTHREAD_THREADS, PEERS, missing_peers, pinned,  # noqa: E402
                                server_argv)

WRK_REPORT = """\
Running 5s test @ http://127.0.0.1:8000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.84ms    1.23ms   8.84ms   58.72%
    Req/Sec    26.19k     1.77k   28.48k    75.00%
  Latency Distribution
     50%  740.00us
     75%    2.89ms
     90%    3.33ms
     99%    1.20s
  52276 requests in 5.01s, 7.78MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  10434.33
Transfer/sec:      3.87MB
"""


def test_wrk_parse_full_report():
    out = wrk.parse(WRK_REPORT)
    assert out["requests"] == 52276
    assert abs(out["seconds"] - 5.01) < 1e-9
    assert out["rps"] == 10434.33
    assert abs(out["p50_ms"] - 0.74) < 1e-9
    assert out["p99_ms"] == 1200.0
    assert out["socket_errors"] == {"connect": 0, "read": 3, "write": 0, "timeout": 2}
    assert out["non_2xx"] == 7


def test_wrk_parse_clean_report_and_failure():
    clean = "\n".join(line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line)
    out = wrk.parse(clean)
    assert out["non_2xx"] == 0 and sum(out["socket_errors"].values()) == 0
    try:
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused")
    except ValueError:
        pass
    else:
        raise AssertionError("a failed run must not parse")


def test_wrk_command_and_version():
    argv = wrk.command("http://127.0.0.1:1/", 5, 50, headers=("Connection: close",))
    assert argv[:5] == ["wrk", "-t1", "-c50", "-d5s", "--latency"]
    assert argv[-3:] == ["-H", "Connection: close", "http://127.0.0.1:1/"]
    assert wrk.version("wrk debian/4.1.0-3+b2 [epoll] Copyright") == "debian/4.1.0-3+b2"


def _stat(pid, comm, ppid, ticks):
    utime, stime, cutime, cstime = ticks
    rest = ["0"] * 9 + [str(utime), str(stime), str(cutime), str(cstime)] + ["20", "0", "1"]
    return "%d (%s) S %d " % (pid, comm, ppid) + " ".join(rest) + "\n"


def _fake_proc(root, with_children_files):
    procs = {10: ("appserver: master (x)", 1, (100, 50, 7, 3)),
             11: ("appserver: worker", 10, (400, 100, 0, 0)),
             12: ("appserver: worker", 10, (300, 200, 0, 0)),
             99: ("other", 1, (5000, 5000, 0, 0))}
    for pid, (comm, ppid, ticks) in procs.items():
        d = root / str(pid)
        (d / "task" / str(pid)).mkdir(parents=True)
        (d / "stat").write_text(_stat(pid, comm, ppid, ticks))
        (d / "status").write_text("Name:\tx\nVmRSS:\t  %d kB\nThreads:\t1\n" % (pid * 1024))
        if with_children_files:
            kids = [str(p) for p, (_, pp, _) in procs.items() if pp == pid]
            (d / "task" / str(pid) / "children").write_text(" ".join(kids) + (" " if kids else ""))
    (root / "self").mkdir()


def test_cpu_and_rss_from_children_files(tmp_path):
    _fake_proc(tmp_path, with_children_files=True)
    assert procstat.children(10, str(tmp_path)) == [11, 12]
    assert procstat.tree_ticks(10, str(tmp_path)) == 160 + 500 + 500
    assert procstat.worker_rss_kib(10, str(tmp_path)) == [11 * 1024, 12 * 1024]


def test_cpu_by_scanning_when_no_children_files(tmp_path):
    _fake_proc(tmp_path, with_children_files=False)
    assert procstat.descendants(10, str(tmp_path)) == [10, 11, 12]
    assert procstat.tree_ticks(10, str(tmp_path)) == 1160
    assert procstat.ticks_to_seconds(250, clk_tck=100) == 2.5


def test_parse_stat_with_parentheses_in_name():
    text = _stat(7, "a) b (c", 3, (1, 2, 3, 4))
    assert procstat.parse_stat(text) == (3, 1, 2, 3, 4)
    assert procstat.vmrss_kib("VmPeak:\t9 kB\nVmRSS:\t 1234 kB\n") == 1234


def _run(scenario, server, **figures):
    base = dict.fromkeys(stats.METRICS)
    base.update(figures)
    base.update(scenario=scenario, server=server, round=1, problems=[])
    return base


def _summary():
    runs = []
    for cpu in (10.0, 30.0, 20.0):
        runs.append(_run("hello", "appserver", rps=1000.0, cpu_us_per_req=cpu, rss_mib=10.0))
        runs.append(_run("hello", "gunicorn", rps=500.0, cpu_us_per_req=cpu * 10, rss_mib=20.0))
    runs.append(_run("django", "appserver", rps=130.0))
    runs.append(_run("django", "gunicorn", rps=100.0))
    runs[-1]["problems"].append("wrk: 3 Non-2xx or 3xx responses")
    return stats.summarize(runs)


def test_medians_ratios_and_fairness():
    assert stats.median([3, None, 1, 2]) == 2
    assert stats.median([None]) is None
    assert stats.ratio(1, 0) is None and stats.ratio(None, 2) is None
    assert stats.fairness([10, 10, 30]) == 3.0
    summary = _summary()
    hello = summary["hello"]
    assert hello["appserver"]["cpu_us_per_req"] == 20.0
    assert hello["gunicorn"]["cpu_us_per_req"] == 200.0
    assert abs(hello["ratio"]["cpu_us_per_req"] - 0.1) < 1e-12
    assert hello["rounds"] == {"appserver": 3, "gunicorn": 3}
    assert summary["django"]["problems"] == ["gunicorn: wrk: 3 Non-2xx or 3xx responses"]


def test_targets_met_not_met_and_missing():
    rows = {row[0]: row[1:] for row in stats.evaluate(_summary())}
    assert rows["hello (keep-alive): CPU per request"][0] == "≤ 0.12x"
    assert rows["hello (keep-alive): CPU per request"][2:] == (True, "rounds 0.10–0.10")
    assert rows["django: requests/s"][2] is True
    assert rows["RSS per worker"][1:] == (0.5, True, "worst: hello")
    assert rows["upload 1 MiB: CPU per request"] == ("≤ 0.15x", None, None, "")


def test_start_up_target_pools_every_start_and_names_the_worst_scenario():
    runs = []
    for scenario, mine, theirs in (("a", (90, 100, 110), (150, 160, 170)),
                                   ("b", (100, 120, 140), (100, 110, 120))):
        for a, g in zip(mine, theirs):
            runs.append(_run(scenario, "appserver", startup_ms=a))
            runs.append(_run(scenario, "gunicorn", startup_ms=g))
    rows = {row[0]: row[1:] for row in stats.evaluate(stats.summarize(runs))}
    # medians of all six: 105 / 135; scenario b alone is 120 / 110
    value, met, note = rows["start to first 200"][1:]
    assert abs(value - 105 / 135) < 1e-12 and met is True
    assert note == "median of 6 runs each; worst scenario b 1.09x"


def test_markdown_render_and_marker_replacement():
    meta = {"rounds": 3, "duration": 5, "warmup": 1, "workers": 2, "pinning": "pinned",
            "when": "2024-01-01 00:00 UTC",
            "machine": {"cpu": "Test CPU", "cores": 2, "kernel": "Linux 6"},
            "versions": {"Python": "3.11", "appserver": "0.1", "Gunicorn": "23",
                         "Django": None, "wrk": "4.1"}}
    block = report.render(_summary(), meta, {"hello": "13 bytes"})
    assert "| `hello` – 13 bytes | 1,000 / 500 (2.00x) |" in block
    assert "20.0 / 200 (0.10x)" in block
    assert "| django: requests/s | ≥ 1.30x | 1.300x | met |" in block
    assert "| RSS per worker | ≤ 1.00x | 0.500x (worst: hello) | met |" in block
    assert "**not met**" not in block.split("RSS per worker")[0]
    assert "`django`: gunicorn: wrk: 3 Non-2xx" in block
    assert "Test CPU, 2 cores, Linux 6" in block and "Django –" in block
    doc = "# B\n\nprose\n\n%s\nold\n%s\n\nmore prose\n" % (report.START, report.END)
    new = report.replace_block(doc, block)
    assert new.startswith("# B\n\nprose\n\n") and new.endswith("\n\nmore prose\n")
    assert "old" not in new and block in new
    assert report.replace_block(new, "x").count(report.START) == 1
    assert report.replace_block("# B\n", "x").endswith("%s\nx\n%s\n" % (report.START, report.END))
    assert "hello" in report.console(_summary())


def test_loadclient_head_parsing_and_percentiles():
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close"
    assert loadclient.parse_head(head) == (200, 13, True)
    assert loadclient.parse_head(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0") == (404, 0, False)
    assert loadclient.parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 1") == (200, 1, True)
    values = list(range(1, 101))
    assert loadclient.percentile(values, 50) == 50
    assert loadclient.percentile(values, 99) == 99
    assert loadclient.percentile([], 99) is None


def _option(argv, name):
    return argv[argv.index(name) + 1]


def test_threads_reach_appserver_only_above_one():
    assert "--threads" not in server_argv("appserver", "a:b", 8000, 2)
    assert "--threads" not in server_argv("appserver", "a:b", 8000, 2, threads=1)
    assert _option(server_argv("appserver", "a:b", 8000, 2, threads=4), "--threads") == "4"
    assert "--threads" not in server_argv("gunicorn", "a:b", 8000, 2, threads=4)   # sync


def test_threads_scenarios_run_appserver_gunicorn_and_gthread_only():
    both = scenarios.by_names(["hello", "mixed-threads"])
    assert [s.threads for s in both] == [1, 4]
    wanted = ("granian", "uwsgi", "bjoern", "gthread")
    assert run.scenario_peers(both[0], wanted) == wanted
    assert run.scenario_peers(both[1], wanted) == ("gthread",)
    assert run.scenario_peers(both[1], ("granian",)) == ()
    assert both[1].slow_every == 20 and both[1].tool == "client"


def _threads_summary():
    runs = []
    for rnd, (mine, theirs) in enumerate(((100.0, 400.0), (110.0, 200.0), (90.0, 300.0)), 1):
        for server, p99, cpu in (("appserver", mine, mine / 10), ("gunicorn", 400.0, 50.0),
                                 ("gthread", theirs, theirs / 10)):
            runs.append(dict(_run("mixed-threads", server, p99_ms=p99), round=rnd))
            runs.append(dict(_run("hello-threads", server, cpu_us_per_req=cpu), round=rnd))
    return stats.summarize(runs)


def test_thread_targets_against_gthread():
    assert stats.evaluate_threads(_peer_summary()) == []     # no threads scenario ran
    rows = {row[0]: row[1:] for row in stats.evaluate_threads(_threads_summary())}
    goal, value, met, note = rows["mixed, 4 threads: p99 of fast requests"]
    assert goal == "≤ 0.50x gthread" and abs(value - 100.0 / 300.0) < 1e-12 and met is True
    assert note == "rounds 0.25–0.55"
    goal, value, met, note = rows["hello, 4 threads: CPU per request"]
    assert met is True and abs(value - 1.0 / 3.0) < 1e-12
    meta = {"rounds": 3, "duration": 5, "warmup": 1, "workers": 2, "pinning": "pinned",
            "when": "2024-01-01 00:00 UTC", "machine": {"cpu": "Test CPU", "cores": 2,
                                                        "kernel": "Linux 6"},
            "versions": {"Python": "3.11"}}
    block = report.render(_threads_summary(), meta)
    assert "#### Targets (issue 21) against this run" in block
    assert "| mixed, 4 threads: p99 of fast requests | ≤ 0.50x gthread | 0.333x" in block
    assert "Gunicorn gthread" in block
    assert "issue 21" not in report.render(_peer_summary(), meta)


def test_server_command_lines():
    argv = server_argv("gunicorn", "hello:application", 8000, 2)
    assert argv[1:3] == ["-m", "gunicorn"]
    assert "--worker-class" in argv and "sync" in argv and "127.0.0.1:8000" in argv
    assert server_argv("appserver", "hello:application", 8000, 2)[-1] == "hello:application"
    assert pinned(["x"], 0) == ["taskset", "-c", "0", "x"]
    assert pinned(["x"], None) == ["x"]


def _peer_summary():
    runs = []
    for rnd, (mine, granian, uwsgi) in enumerate(((10.0, 8.0, 12.0), (12.0, 9.0, 11.0),
                                                  (11.0, 10.0, 13.0)), 1):
        for server, cpu in (("appserver", mine), ("gunicorn", mine * 10),
                            ("granian", granian), ("uwsgi", uwsgi)):
            run = _run("hello", server, cpu_us_per_req=cpu, rps=1000.0 / cpu)
            run["round"] = rnd
            runs.append(run)
        runs.append(dict(_run("upload", "appserver", cpu_us_per_req=mine), round=rnd))
        runs.append(dict(_run("upload", "gunicorn", cpu_us_per_req=mine * 20), round=rnd))
        runs.append(dict(_run("upload", "uwsgi", cpu_us_per_req=uwsgi * 2), round=rnd))
    return stats.summarize(runs)


def test_peers_best_peer_and_ratios():
    hello = _peer_summary()["hello"]
    assert hello["peers"] == ["granian", "uwsgi"]
    assert hello["granian"]["cpu_us_per_req"] == 9.0
    assert hello["best"]["cpu_us_per_req"] == "granian"
    assert hello["best"]["rps"] == "granian"  # highest req/s, not lowest
    assert abs(hello["vs_best"]["cpu_us_per_req"] - 11.0 / 9.0) < 1e-12
    assert abs(hello["ratio"]["cpu_us_per_req"] - 0.1) < 1e-12


def test_peer_targets_met_missed_absent_and_spread():
    rows = {row[0]: row[1:] for row in stats.evaluate_peers(_peer_summary())}
    goal, value, met, note = rows["hello: CPU per request"]
    assert goal == "≤ 1.00x granian" and met is False
    assert abs(value - 11.0 / 9.0) < 1e-12 and note == "rounds 1.10–1.33"
    goal, value, met, note = rows["upload 1 MiB: CPU per request"]
    assert met is True and abs(value - 11.0 / 24.0) < 1e-12 and note.startswith("vs uwsgi; ")
    assert rows["hello-close: CPU per request"][1:3] == (None, None)
    assert rows["big 1 MiB: CPU per request"][3] == "scenario not run"
    goal, value, met, note = rows["appserver CPU per request, round-to-round spread"]
    assert goal == "≤ 15 %" and abs(value - 2.0 / 11.0) < 1e-12 and met is False
    assert stats.spread([10.0, None]) is None


def test_peer_tables_render_beside_gunicorn():
    meta = {"rounds": 3, "duration": 5, "warmup": 1, "workers": 2, "pinning": "pinned",
            "when": "2024-01-01 00:00 UTC", "load_average": "1.00 2.00 3.00 at the start",
            "peers_note": "bjoern skipped: not installed (pip install bjoern-binary)",
            "machine": {"cpu": "Test CPU", "cores": 2, "kernel": "Linux 6"},
            "versions": {"Python": "3.11"}}
    block = report.render(_peer_summary(), meta)
    assert "| scenario | appserver | Gunicorn | Granian | uWSGI | appserver / best peer |" in block
    assert "| `hello` | 11.0 | 110 | 9.00 | 12.0 | 1.22x Granian (rounds 1.10–1.33) | 0.10x |" in block
    assert "| hello: CPU per request | ≤ 1.00x granian | 1.222x (rounds 1.10–1.33) | **not met** |" in block
    assert "bjoern skipped: not installed" in block and "1.00 2.00 3.00" in block
    assert "vs best" in report.console(_peer_summary())


def test_peer_command_lines_and_missing_peers():
    assert set(PEERS) == {"granian", "uwsgi", "bjoern", "gthread"}
    granian = server_argv("granian", "hello:application", 8000, 2, "/apps")
    assert granian[1:5] == ["-m", "granian", "--interface", "wsgi"] and "/apps" in granian
    uwsgi = server_argv("uwsgi", "hello:application", 8000, 2, "/apps")
    assert _option(uwsgi, "--http11-socket") == "127.0.0.1:8000" and "--die-on-term" in uwsgi
    bjoern = server_argv("bjoern", "hello:application", 8000, 2)
    assert bjoern[1:3] == ["-m", "benchmarks.bjoern_serve"] and bjoern[-1] == "hello:application"
    gthread = server_argv("gthread", "hello:application", 8000, 2)
    assert gthread[1:3] == ["-m", "gunicorn"] and gthread[-1] == "hello:application"
    assert _option(gthread, "--worker-class") == "gthread"
    assert _option(gthread, "--threads") == str(GTHREAD_THREADS)   # as its users run it
    assert _option(server_argv("gthread", "a:b", 8000, 2, threads=8), "--threads") == "8"
    hints = missing_peers(PEERS)
    assert set(hints) <= set(PEERS)
    assert all(hint.startswith("pip install ") for hint in hints.values())


RAW_STACKS = """\
<module> (appserver/__main__.py:8);Worker._loop (appserver/worker/process.py:218);select_epoll_poll (selectmodule.c.h:1);epoll_wait (libc.so.6) 3
Worker._serve (appserver/worker/process.py:1);Connection.sendall (appserver/net/connection.py:9);sock_send (socketmodule.c:1);sock_call_ex (socketmodule.c:2);send (libc.so.6) 5
Worker._serve (appserver/worker/process.py:1);handle (appserver/wsgi/handler.py:3);build_environ (appserver/wsgi/environ.py:40) 2
Worker._serve (appserver/worker/process.py:1);Slot.request_finished (appserver/observe/scoreboard.py:5);s_pack_into (_struct.c:9) 1
Worker._serve (appserver/worker/process.py:1);RequestParser._parse_plain (appserver/http/parser.py:7);split (_plain.c:1) 2
Worker._serve (appserver/worker/process.py:1);sock_recv_guts (socketmodule.c:3);malloc (libc.so.6) 1
Worker._serve (appserver/worker/process.py:1);Connection._enter (appserver/net/connection.py:3);Enum.__hash__ (enum.py:1) 1
garbage
"""


def test_profile_buckets_from_raw_stacks():
    from benchmarks import profile
    samples = profile.parse_raw(RAW_STACKS)
    assert len(samples) == 7 and samples[0][1] == 3
    assert [profile.classify(frames) for frames, _ in samples] == [
        "epoll", "send", "environ", "scoreboard", "parse", "recv", "connection"]
    fractions, total = profile.shares(samples)
    assert total == 15 and abs(sum(fractions.values()) - 1.0) < 1e-12
    row = {"scenario": "hello", "shares": fractions, "samples": total, "busy": 0.9,
           "cpu_us_per_req": 12.0, "plain": {"user": 6.0, "system": 9.0}}
    # system time shared among the 9 system call samples, user time among the other 6
    assert abs(profile.estimate_us(row, "send") - 5 / 9 * 9.0) < 1e-12
    assert abs(profile.estimate_us(row, "environ") - 2 / 6 * 6.0) < 1e-12
    text = profile.table([row, {"scenario": "file", "problem": "py-spy failed: x"}])
    assert "| send | 5.0 µs (33 %) |" in text and "| environ | 2.0 µs (13 %) |" in text
    assert "15.0 µs (6.0 + 9.0)" in text and "`file`: py-spy failed: x" in text
    doc = profile.replace_block("# B\n", "t")
    assert profile.replace_block(doc, "u").count(profile.START) == 1 and "\nu\n" in doc.replace("t", "u")
