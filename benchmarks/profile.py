"""Where a request's CPU goes in appserver: a sampled profile of one worker.

Contract: ``python -m benchmarks.profile [--scenarios a,b] [--duration S]
[--rate HZ] [--no-docs] [--raw-dir DIR]`` starts appserver with one worker
pinned to CPU 0 (in a fresh network namespace when it may), drives it from
CPU 1 with the scenario's load, and samples the worker with ``py-spy record
--native`` (also on CPU 1) while the load runs. Every sample is put in one
``CATEGORIES`` bucket by ``classify``: a sample inside a system call wrapper
(socket, epoll, sendfile, timers, plain read/write) is ``syscalls`` whatever
called it; otherwise the innermost frame from a known file decides. It
prints a table of each bucket's share of the samples per scenario and
(unless ``--no-docs``) writes it into docs/benchmarks.md between
``START`` and ``END``. ``parse_raw`` reads py-spy's raw (collapsed) output.
The harness installs nothing: without py-spy (``pip install py-spy``) it
exits 2. Only 127.0.0.1 is targeted; the load and the sampler are bounded
by the duration and a timeout; the server is stopped by its pid.
"""
import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import checks, netns, procstat, report, scenarios
from benchmarks.run import load_average, make_file, precompile, run_tool
from benchmarks.servers import Server

DOC = scenarios.REPO / "docs" / "benchmarks.md"
START = "<!-- benchmarks:profile:start -->"
END = "<!-- benchmarks:profile:end -->"
DEFAULT_SCENARIOS = ("hello", "hello-close", "big", "upload", "file")

# (bucket, path fragments of the Python or C source that puts a frame in it)
RULES = (
    ("parse", ("appserver/http/parser.py", "appserver/http/head.py", "appserver/http/plain.py",
               "appserver/http/body.py", "_plain.c")),
    ("environ", ("appserver/wsgi/environ.py",)),
    ("observer", ("appserver/observe/observer.py", "appserver/observe/metrics.py",
                  "appserver/observe/requestid.py", "appserver/observe/accesslog.py",
                  "appserver/observe/statsd.py", "appserver/observe/logs.py")),
    ("scoreboard", ("appserver/observe/scoreboard.py",)),
    ("write", ("appserver/wsgi/response.py", "appserver/http/writer.py")),
    ("wsgi input", ("appserver/wsgi/input.py",)),
    ("handler", ("appserver/wsgi/handler.py",)),
    ("connection", ("appserver/net/connection.py",)),
    ("worker loop", ("appserver/worker/",)),
    ("app", ("benchmarks/apps/",)),
)
SYSCALL_SOURCES = ("socketmodule.c", "selectmodule.c", "posixmodule.c")
# system call wrapper (libc) -> bucket
SYSCALLS = {}
for _bucket, _names in (
        ("send", ("send", "sendmsg", "sendto", "writev", "sendfile", "sendfile64")),
        ("recv", ("recv", "recvmsg", "recvfrom", "readv")),
        ("epoll", ("epoll_wait", "epoll_ctl", "epoll_pwait")),
        ("other syscalls", ("accept", "accept4", "close", "shutdown", "setitimer",
                            "getitimer", "read", "write", "poll", "fcntl", "ioctl",
                            "setsockopt", "getsockopt", "getpeername", "getsockname",
                            "socket", "kill", "getpid"))):
    SYSCALLS.update(dict.fromkeys(_names, _bucket))
SYSCALL_BUCKETS = ("send", "recv", "epoll", "other syscalls")
CATEGORIES = SYSCALL_BUCKETS + tuple(name for name, _ in RULES) + ("other",)


def parse_raw(text):
    """[(frames root first, count)] from py-spy's raw collapsed-stack output."""
    out = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            out.append((stack.split(";"), int(count)))
    return out


def _name_and_source(frame):
    """('func', 'path/file.py:12') of one py-spy frame 'func (path/file.py:12)'."""
    name, _, rest = frame.partition(" (")
    return name, rest.rstrip(")")


def syscall_bucket(frames):
    """The system call bucket of a sample, or None when it is not in a system call.

    The innermost libc wrapper named in ``SYSCALLS`` decides; a sample inside
    CPython's socket, select or os C code but in no named wrapper (its own
    bookkeeping around the call) goes by that C function's name."""
    for frame in reversed(frames):
        name, source = _name_and_source(frame)
        if "libc.so" in source and name in SYSCALLS:
            return SYSCALLS[name]
    for frame in reversed(frames):
        name, source = _name_and_source(frame)
        if any(part in source for part in SYSCALL_SOURCES):
            for word in ("send", "recv", "epoll"):
                if word in name:
                    return word
            return "other syscalls"
    return None


def classify(frames):
    """The bucket of one sample (frames root first)."""
    bucket = syscall_bucket(frames)
    if bucket:
        return bucket
    for frame in reversed(frames):
        source = _name_and_source(frame)[1]
        for bucket, parts in RULES:
            if any(part in source for part in parts):
                return bucket
    return "other"


def shares(samples):
    """({bucket: fraction of the samples}, sample count)."""
    total = sum(n for _, n in samples)
    counts = dict.fromkeys(CATEGORIES, 0)
    for frames, n in samples:
        counts[classify(frames)] += n
    return {k: (v / total if total else 0.0) for k, v in counts.items()}, total


def profile_one(scenario, args, pins, workdir, env):
    """Profile appserver's single worker under ``scenario``'s load; returns a row dict."""
    raw = workdir / ("%s.txt" % scenario.name)
    server = Server("appserver", scenario.app, scenario.app_dir, 1, env,
                    workdir / ("%s.log" % scenario.name), pins[0])
    with server:
        server.start()
        run_tool(scenario, server, args.warmup, pins[1])
        worker = procstat.descendants(server.pid)[1]
        plain = unsampled(scenario, server, worker, args, pins)
        before = procstat.tree_ticks(worker)
        spy = subprocess.Popen(
            ["taskset", "-c", str(pins[1]), "py-spy", "record", "--pid", str(worker),
             "--duration", str(args.duration), "--rate", str(args.rate), "--native",
             "--format", "raw", "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        began = time.monotonic()
        figures, problems = run_tool(scenario, server, args.duration + 1, pins[1])
        busy = procstat.ticks_to_seconds(procstat.tree_ticks(worker) - before)
        wall = time.monotonic() - began
        requests = figures["requests"] if figures else 0
        _, err = spy.communicate(timeout=args.duration + 30)
    if spy.returncode != 0 or not raw.exists():
        return {"scenario": scenario.name, "problem": "py-spy failed: %s" % err.strip()[-300:]}
    if args.raw_dir:
        Path(args.raw_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(raw, Path(args.raw_dir) / raw.name)
    fractions, total = shares(parse_raw(raw.read_text()))
    return {"scenario": scenario.name, "shares": fractions, "samples": total, "plain": plain,
            "busy": busy / wall if wall else None, "problems": problems,
            "cpu_us_per_req": busy * 1e6 / requests if requests else None}


def _user_system(pid):
    stat = procstat.parse_stat(procstat._read("/proc/%d/stat" % pid))
    return stat[1], stat[2]


def unsampled(scenario, server, worker, args, pins):
    """The worker's user and system CPU µs per request under load, no sampler attached."""
    user0, sys0 = _user_system(worker)
    figures, _ = run_tool(scenario, server, args.duration, pins[1])
    user1, sys1 = _user_system(worker)
    if not figures or not figures["requests"]:
        return None
    per = 1e6 / figures["requests"]
    return {"user": procstat.ticks_to_seconds(user1 - user0) * per,
            "system": procstat.ticks_to_seconds(sys1 - sys0) * per}


def estimate_us(row, bucket):
    """µs per request of one bucket, or None without an unsampled run.

    The sampler counts wall time in which the worker could run, so a worker
    waiting for the CPU right after a system call woke it counts against that
    call. The unsampled run's /proc figures are the truth for the split: its
    system time is shared among the system call buckets, its user time among
    the others, each in proportion to their samples."""
    plain = row.get("plain")
    if not plain:
        return None
    group = SYSCALL_BUCKETS if bucket in SYSCALL_BUCKETS else \
        tuple(c for c in CATEGORIES if c not in SYSCALL_BUCKETS)
    total = sum(row["shares"][c] for c in group)
    if not total:
        return 0.0
    return row["shares"][bucket] / total * plain["system" if group == SYSCALL_BUCKETS else "user"]


def table(rows):
    """Markdown: a row per bucket, a column per scenario, 'µs per request (share)'."""
    good = [r for r in rows if "shares" in r]
    out = ["| where the worker's CPU goes | " + " | ".join("`%s`" % r["scenario"] for r in good)
           + " |", "|---" * (len(good) + 1) + "|"]

    def cell(row, bucket):
        share = row["shares"][bucket]
        us = estimate_us(row, bucket)
        if us is None:
            return "%.0f %%" % (share * 100)
        return "%.1f µs (%.0f %%)" % (us, share * 100)

    for bucket in CATEGORIES:
        out.append("| %s | %s |" % (bucket, " | ".join(cell(r, bucket) for r in good)))
    out.append("| **CPU per request, unsampled run** (user + system) | %s |" % " | ".join(
        "%.1f µs (%.1f + %.1f)" % (r["plain"]["user"] + r["plain"]["system"], r["plain"]["user"],
                                   r["plain"]["system"]) if r.get("plain") else "–" for r in good))
    out.append("| CPU per request under the sampler | %s |" % " | ".join(
        "%.1f µs" % r["cpu_us_per_req"] if r["cpu_us_per_req"] else "–" for r in good))
    out.append("| samples | %s |" % " | ".join(str(r["samples"]) for r in good))
    out.append("| worker busy (CPU time / wall time) | %s |" % " | ".join(
        "%.0f %%" % (r["busy"] * 100) if r["busy"] is not None else "–" for r in good))
    for r in rows:
        if "shares" not in r:
            out.append("\n`%s`: %s" % (r["scenario"], r["problem"]))
    return "\n".join(out)


def render(rows, meta):
    """The profile block for the docs (without the markers)."""
    return "\n".join([
        "One appserver worker, pinned to CPU %(cpu)s, sampled by `py-spy record --native "
        "--rate %(rate)d` for %(duration)d s per scenario under the scenario's load "
        "(client and sampler on the other CPU); %(isolation)s. Recorded %(when)s at "
        "%(version)s; load average of the machine %(load)s. Each cell: µs per request "
        "(share of the samples); `worker busy` is the worker's CPU time over the "
        "sampled wall time, low when the sampler stops the worker often or the "
        "machine is shared. The "
        "µs come from a run of the same length without the sampler (it stops the "
        "worker for every sample, which costs CPU): that run's system (kernel) "
        "time from /proc is shared among the system call rows and its user time "
        "among the others, in proportion to their samples." % meta,
        "",
        table(rows),
    ])


def replace_block(doc, block):
    """``doc`` with the profile block replaced by ``block``."""
    return report.replace_block(doc, block, START, END)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profile",
                                 description="sampled profile of one appserver worker per scenario")
    ap.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS))
    ap.add_argument("--duration", type=int, default=5, help="sampled seconds (default 5)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rate", type=int, default=250, help="samples per second (default 250)")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--raw-dir", help="keep py-spy's raw stacks here")
    args = ap.parse_args(argv)
    if not (1 <= args.duration <= 60 and 0 <= args.warmup <= 10 and 10 <= args.rate <= 1000):
        ap.error("duration 1..60 s, warmup 0..10 s, rate 10..1000 Hz")
    return args


def main(argv=None):
    args = parse_args(argv)
    selected = scenarios.by_names([n.strip() for n in args.scenarios.split(",") if n.strip()])
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    missing = checks.missing(any(s.name == "django" for s in selected))
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 2
    cpu0, cpu1, note = checks.pinning(True)
    if cpu0 is None:
        print(note + ": the profile needs two CPUs and taskset", file=sys.stderr)
        return 2
    isolate, isolation = netns.probe()
    precompile()
    load = load_average()
    path = os.pathsep.join(p for p in (str(scenarios.REPO), os.environ.get("PYTHONPATH")) if p)
    rows = []
    with tempfile.TemporaryDirectory(prefix="appserver-profile-") as tmp:
        env = dict(os.environ, BENCH_FILE=str(make_file(Path(tmp))), PYTHONUNBUFFERED="1",
                   PYTHONPATH=path)
        for scenario in selected:
            with netns.fresh_loopback() if isolate else contextlib.nullcontext():
                rows.append(profile_one(scenario, args, (cpu0, cpu1), Path(tmp), env))
            print(table(rows[-1:]))
    meta = {"cpu": cpu0, "rate": args.rate, "duration": args.duration, "isolation": isolation,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "version": report.source_state(scenarios.REPO),
            "load": "%s at the start, %s at the end" % (load, load_average())}
    print(table(rows))
    if not args.no_docs:
        DOC.write_text(replace_block(DOC.read_text(), render(rows, meta)))
        print("wrote %s" % DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
