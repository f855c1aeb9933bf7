"""Run the benchmark suite: appserver against Gunicorn and peers, round by round.

Contract: ``python -m benchmarks [--rounds N] [--duration S] [--warmup S]
[--workers W] [--scenarios a,b] [--peers a,b | --no-peers] [--no-pin]
[--no-netns] [--no-docs] [--json FILE]`` checks its prerequisites (exit 2
with install hints when something is missing; a missing peer is skipped with
a note instead), then for each scenario and round starts appserver, measures
it, stops it, then does the same with Gunicorn (sync worker) and each peer
(Granian, uWSGI, bjoern, Gunicorn gthread when installed; a threads scenario
runs only the peers it names), so the servers alternate A B C ...
(a static scenario runs appserver ``--static``, WhiteNoise under Gunicorn and
nginx instead: ``benchmarks.static``; it is skipped with a note when nginx or
WhiteNoise is missing). Each measured run happens in a fresh
network namespace when this process may make one (``benchmarks.netns``; root), so no run
inherits another's TCP state. A run: start the server pinned to one CPU,
time launch to first 200, warm up, read the server tree's CPU ticks and the
busy ticks of the server's CPU (``/proc/stat``), drive it from the other CPU
(wrk or ``benchmarks.loadclient``, whose own CPU time is taken from this
process's children's rusage), read the ticks again, read each worker's RSS,
stop the server (TERM, then KILL). Per request that gives three CPU
figures: the server's process tree (``cpu_us_per_req``, what the targets
read), the server's CPU busy by any task or interrupt (``core_us_per_req``,
pinned runs only) and the load client's (``client_us_per_req``). It prints
medians and ratios, and writes the results block into docs/benchmarks.md and
the chart into docs/img/benchmarks.png (unless ``--no-docs``);
``--from-json FILE`` re-renders a saved run without running anything. The
servers import the appserver of this checkout (its root goes first on
PYTHONPATH). Only 127.0.0.1 is targeted; every load run is bounded by its
duration and a subprocess timeout; servers are stopped on errors, Ctrl-C and
TERM too.
"""
import argparse
import compileall
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import chart, checks, netns, procstat, report, scenarios, static, stats, wrk
from benchmarks.servers import PEERS, Server, StartError, log_tail, missing_peers, pinned

DOC = scenarios.REPO / "docs" / "benchmarks.md"
IMG = scenarios.REPO / "docs" / "img" / "benchmarks.png"
TOOL_SLACK_S = 30


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m benchmarks",
                                 description="appserver vs Gunicorn benchmark suite")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per scenario (default 3)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured run (default 5)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="warm-up seconds before measuring (default 1)")
    ap.add_argument("--workers", type=int, default=2, help="workers per server (default 2)")
    ap.add_argument("--scenarios", default=",".join(scenarios.names()),
                    help="comma-separated subset (default: all)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="comma-separated peers to run beside Gunicorn when installed "
                         "(default: %s)" % ",".join(PEERS))
    ap.add_argument("--no-peers", action="store_true", help="run appserver and Gunicorn only")
    ap.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    ap.add_argument("--no-netns", action="store_true",
                    help="run every server on the shared loopback, not a fresh network namespace")
    ap.add_argument("--no-docs", action="store_true",
                    help="do not write docs/benchmarks.md and the chart")
    ap.add_argument("--json", help="also write every run's raw figures to this file")
    ap.add_argument("--from-json", metavar="FILE",
                    help="render the docs from a file written by --json, run nothing")
    args = ap.parse_args(argv)
    if not (1 <= args.rounds <= 50 and 1 <= args.duration <= 600 and 0 <= args.warmup <= 60):
        ap.error("rounds 1..50, duration 1..600 s, warmup 0..60 s")
    args.peers = [] if args.no_peers else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(args.peers) - set(PEERS)
    if unknown:
        ap.error("unknown peer(s): %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(PEERS)))
    return args


def choose_peers(wanted):
    """(the wanted peers that are installed, a note on those skipped or '')."""
    missing = missing_peers(wanted)
    note = "; ".join("%s skipped: not installed (%s)" % (p, hint) for p, hint in missing.items())
    return [p for p in wanted if p not in missing], note


def choose_static(selected):
    """(the selected scenarios that can run, a note on the static ones
    skipped because nginx or WhiteNoise is missing, or '')."""
    lacking = static.missing() if any(s.servers for s in selected) else []
    if not lacking:
        return selected, ""
    skipped = [s.name for s in selected if s.servers]
    return ([s for s in selected if not s.servers],
            "%s skipped: %s" % (", ".join(skipped), "; ".join(lacking)))


def run_tool(scenario, server, seconds, cpu):
    """Drive ``server`` for ``seconds``; returns (figures, problems)."""
    if scenario.tool == "wrk":
        argv = wrk.command(server.url(scenario.path), seconds, scenario.connections,
                           script=scenario.script, headers=scenario.headers)
    else:
        argv = [sys.executable, "-m", "benchmarks.loadclient", "--port", str(server.port),
                "--connections", str(scenario.connections), "--duration", str(seconds),
                "--slow-every", str(scenario.slow_every)]
    began = children_cpu_s()
    done = subprocess.run(pinned(argv, cpu), cwd=scenarios.REPO, capture_output=True,
                          text=True, timeout=seconds + TOOL_SLACK_S)
    client_cpu_s = children_cpu_s() - began
    if done.returncode != 0:
        return None, ["%s exited %d: %s" % (argv[0], done.returncode, done.stderr.strip()[-300:])]
    if scenario.tool == "wrk":
        figures, problems = _wrk_figures(done.stdout)
    else:
        try:
            figures, problems = _client_figures(json.loads(done.stdout))
        except ValueError:
            return None, ["load client printed no report: %r" % done.stdout[-300:]]
    if figures:
        figures["client_cpu_s"] = client_cpu_s
    return figures, problems


def children_cpu_s():
    """User + system CPU seconds of this process's waited-for children so far
    (the load tool is the only child that exits while it runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk_figures(text):
    try:
        out = wrk.parse(text)
    except ValueError as exc:
        return None, [str(exc)]
    problems = []
    if out["non_2xx"]:
        problems.append("wrk: %d Non-2xx or 3xx responses" % out["non_2xx"])
    errs = {k: v for k, v in out["socket_errors"].items() if v}
    if errs:
        problems.append("wrk socket errors: %s" % ", ".join("%s %d" % kv for kv in errs.items()))
    return out, problems


def _client_figures(data):
    problems = []
    bad = {s: n for s, n in data["statuses"].items() if s != "200"}
    if bad:
        problems.append("client: non-200 statuses %s" % bad)
    if data["errors"]:
        problems.append("client errors: %s" % data["errors"])
    if data["unanswered"]:
        problems.append("client: %d requests unanswered at the end" % data["unanswered"])
    out = {"requests": data["requests"], "rps": data["rps"],
           "p50_ms": data["fast"]["p50_ms"], "p99_ms": data["fast"]["p99_ms"],
           "fairness": stats.fairness(data["per_connection"]),
           "per_connection": data["per_connection"], "slow": data["slow"]}
    return out, problems


def measure(server, scenario, args, pins):
    """Start, warm up, measure and stop one server; returns a run dict."""
    run = {"problems": []}
    with server:
        server.start()
        run["startup_ms"] = server.startup_s * 1000.0
        if args.warmup:
            run_tool(scenario, server, args.warmup, pins[1])
        server.remember_children()
        before = _cpu_ticks(server, pins[0])
        figures, problems = run_tool(scenario, server, args.duration, pins[1])
        after = _cpu_ticks(server, pins[0])
        rss = procstat.worker_rss_kib(server.pid)
        run["problems"] += problems
        if figures:
            run.update(figures)
            run.update(per_request(before, after, figures))
        run["rss_mib"] = sum(rss) / len(rss) / 1024.0 if rss else None
    if run["problems"]:
        run["problems"].append("server log tail: " + log_tail(server.log_path, 6).strip())
    return run


def _cpu_ticks(server, cpu):
    """(ticks of the server's process tree, busy ticks of its CPU or None)."""
    return (procstat.tree_ticks(server.pid),
            procstat.cpu_busy_ticks(cpu) if cpu is not None else None)


def per_request(before, after, figures):
    """The CPU seconds of a run and its CPU figures per request, from the
    (tree ticks, CPU busy ticks) read before and after it and the load tool's
    figures (``requests``, ``client_cpu_s``); a figure that cannot be had
    (no request, no pinned CPU) is left out."""
    out = {"cpu_s": procstat.ticks_to_seconds(after[0] - before[0])}
    if before[1] is not None and after[1] is not None:
        out["core_busy_s"] = procstat.ticks_to_seconds(after[1] - before[1])
    done = figures.get("requests")
    if done:
        for key, metric in (("cpu_s", "cpu_us_per_req"), ("core_busy_s", "core_us_per_req")):
            if key in out:
                out[metric] = out[key] * 1e6 / done
        if figures.get("client_cpu_s") is not None:
            out["client_us_per_req"] = figures["client_cpu_s"] * 1e6 / done
    return out


def one_run(scenario, kind, rnd, args, pins, workdir, env):
    """A run dict for one scenario, server and round (problems recorded, not raised)."""
    log = workdir / ("%s-%s-%d.log" % (scenario.name, kind, rnd))
    base = {"scenario": scenario.name, "server": kind, "round": rnd}
    isolated = netns.fresh_loopback() if args.isolate else contextlib.nullcontext()
    try:
        with isolated:
            server = Server(kind, scenario.app, scenario.app_dir, args.workers, env, log,
                            pins[0], env.get("BENCH_STATIC_DIR") if scenario.servers else None,
                            scenario.threads, scenario.uwsgi_mode)
            run = measure(server, scenario, args, pins)
    except StartError as exc:
        run = {"problems": ["start failed: %s" % exc]}
    except subprocess.TimeoutExpired as exc:
        run = {"problems": ["load tool timed out: %s" % exc]}
    base.update(run)
    return base


def print_run(run):
    figures = " ".join("%s=%s" % (m, report.num(run.get(m))) for m in stats.METRICS)
    print("  %-12s round %d %-9s %s" % (run["scenario"], run["round"], run["server"], figures))
    for problem in run["problems"]:
        print("    PROBLEM: %s" % problem.splitlines()[0])
    sys.stdout.flush()


def run_suite(selected, args, pins, workdir):
    """Every run, interleaving the servers (Gunicorn's pair, then the peers) round by round."""
    path = os.pathsep.join(p for p in (str(scenarios.REPO), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, BENCH_FILE=str(make_file(workdir)), PYTHONUNBUFFERED="1",
               PYTHONPATH=path, BENCH_STATIC_DIR=str(static.make_dir(workdir)))
    runs = []
    for scenario in selected:
        for rnd in range(1, args.rounds + 1):
            for kind in scenario.servers or stats.SERVERS + scenario_peers(scenario, args.peers):
                run = one_run(scenario, kind, rnd, args, pins, workdir, env)
                print_run(run)
                runs.append(run)
    return runs


def scenario_peers(scenario, peers):
    """The peers to run in ``scenario``: those wanted, bounded by its own list."""
    return tuple(p for p in peers if scenario.peers is None or p in scenario.peers)


def make_file(workdir):
    """The file the ``file`` scenario serves, FILE_SIZE bytes."""
    path = workdir / "file.bin"
    with open(path, "wb") as f:
        f.write(os.urandom(1024 * 1024) * (scenarios.FILE_SIZE // (1024 * 1024)))
    return path


def load_average():
    """The 1, 5 and 15 minute load averages as text ('' when unknown)."""
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return ""


def precompile():
    """Byte-compile this checkout's ``appserver`` package first.

    pip compiles an installed package (Gunicorn here) when it installs it; a
    checkout has no ``.pyc`` files until something writes them, and with
    ``PYTHONDONTWRITEBYTECODE`` set nothing does, so every appserver start
    would compile its sources and the start-up figure would measure that."""
    ok = compileall.compile_dir(str(scenarios.REPO / "appserver"), quiet=1)
    if not ok:
        print("note: some appserver modules did not byte-compile", file=sys.stderr)


def write_docs(summary, meta):
    """The results block into docs/benchmarks.md, and the chart."""
    if chart.available():
        IMG.parent.mkdir(parents=True, exist_ok=True)
        chart.draw(summary, IMG, "appserver / Gunicorn, %s" % meta["when"])
        meta["chart"] = "![appserver/Gunicorn ratios per scenario](img/benchmarks.png)"
    else:
        meta["chart"] = "(Chart not drawn: matplotlib is not installed.)"
        print("note: matplotlib not installed, chart skipped (pip install matplotlib)")
    descriptions = {s.name: s.summary for s in scenarios.SCENARIOS}
    block = report.render(summary, meta, descriptions)
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    DOC.write_text(report.replace_block(doc, block))
    print("wrote %s" % DOC)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def render_saved(path, no_docs):
    """Print and (unless no_docs) write the results of a saved --json run."""
    saved = json.loads(Path(path).read_text())
    summary = stats.summarize(saved["runs"])
    print(report.console(summary))
    if not no_docs:
        write_docs(summary, saved["meta"])
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        return render_saved(args.from_json, args.no_docs)
    selected = scenarios.by_names([n.strip() for n in args.scenarios.split(",") if n.strip()])
    missing = checks.missing(any(s.name == "django" for s in selected))
    selected, static_note = choose_static(selected)
    if not selected:
        missing.append(static_note)
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 2
    args.peers, peers_note = choose_peers(args.peers)
    peers_note = "; ".join(n for n in (peers_note, static_note) if n)
    if peers_note:
        print("note: " + peers_note)
    server_cpu, client_cpu, note = checks.pinning(not args.no_pin)
    print(note)
    args.isolate, isolation = (False, "one shared loopback (--no-netns)") if args.no_netns \
        else netns.probe()
    print(isolation)
    precompile()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    wrk_text = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    load_before = load_average()
    try:
        with tempfile.TemporaryDirectory(prefix="appserver-bench-") as tmp:
            runs = run_suite(selected, args, (server_cpu, client_cpu), Path(tmp))
    except KeyboardInterrupt:
        print("interrupted: servers stopped, nothing written", file=sys.stderr)
        return 130
    summary = stats.summarize(runs)
    print(report.console(summary))
    meta = {"rounds": args.rounds, "duration": args.duration, "warmup": args.warmup,
            "workers": args.workers, "pinning": note, "isolation": isolation,
            "peers_note": peers_note, "load_average": "%s at the start, %s at the end" % (
                load_before, load_average()),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": report.machine(),
            "versions": report.versions(wrk_text, scenarios.REPO)}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    if not args.no_docs:
        write_docs(summary, meta)
    return 0
