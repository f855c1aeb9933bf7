"""The benchmark's static scenarios (``benchmarks.static``) run.

Contract: the pure parts (nginx's config, appserver's ``--static`` argument,
the scenarios' paths, issue 24's target rows and the report's section) are
checked without a server. Then each of the three servers (appserver
``--static``, WhiteNoise under Gunicorn, nginx) is started by the harness
over the harness's own directory and must answer both files byte for byte;
and, where wrk is installed, one short measured run per server (``one_run``:
1 s, loopback) must give a CPU-per-request figure and no problem. Servers are
stopped by the harness (TERM to the pid, then KILL).
"""
import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import report, run, scenarios, static, stats  # noqa: E402
from benchmarks.servers import Server, server_argv  # noqa: E402
from tests.harness.clients import http_get  # noqa: E402

STATIC = scenarios.by_names(list(static.FILES))


def test_scenarios_ask_for_the_files_the_harness_writes(tmp_path):
    directory = static.make_dir(tmp_path)
    for scenario in STATIC:
        name, size = static.FILES[scenario.name]
        assert scenario.path == "/static/" + name and scenario.servers == static.SERVERS
        assert (directory / name).stat().st_size == size
        assert (directory / name).stat().st_mode & 0o004     # nginx's workers read it
    assert all(s.servers is None for s in scenarios.SCENARIOS if s not in STATIC)


def test_command_lines(tmp_path):
    argv = server_argv("appserver", "static:application", 8000, 2, static_dir="/d")
    assert argv[-3:] == ["--static", "/static/=/d", "static:application"]
    assert "--static" not in server_argv("appserver", "hello:application", 8000, 2)
    argv = server_argv("nginx", "static:application", 8000, 2, static_dir="/d",
                       confdir=tmp_path)
    conf = (tmp_path / "nginx-8000.conf").read_text()
    assert argv[-4:] == ["-c", str(tmp_path / "nginx-8000.conf"), "-e", "stderr"]
    assert "listen 127.0.0.1:8000;" in conf and "worker_processes 2;" in conf
    assert "location /static/ { alias /d/; }" in conf and "access_log off;" in conf


def _runs(name, cpu):
    out = []
    for rnd, (mine, nginx, whitenoise) in enumerate(cpu, 1):
        for server, value in (("appserver", mine), ("gunicorn", whitenoise),
                              ("nginx", nginx)):
            run_ = dict.fromkeys(stats.METRICS)
            run_.update(scenario=name, server=server, round=rnd, problems=[],
                        cpu_us_per_req=value, rps=1000.0)
            out.append(run_)
    return out


def test_targets_and_report_section():
    summary = stats.summarize(_runs("static-10k", [(15.0, 10.0, 100.0), (30.0, 10.0, 100.0),
                                                   (18.0, 10.0, 100.0)]))
    rows = {row[0]: row[1:] for row in static.evaluate(summary)}
    goal, value, met, note = rows["static 10 KiB: CPU per request vs nginx"]
    assert goal == "≤ 2.00x" and value == 1.8 and met is True and note == "rounds 1.50–3.00"
    goal, value, met, _ = rows["static 10 KiB: CPU per request vs WhiteNoise under Gunicorn"]
    assert goal == "≤ 0.20x" and abs(value - 0.18) < 1e-12 and met is True
    assert rows["static 10 MiB: CPU per request vs nginx"][1:3] == (None, None)
    meta = {"rounds": 3, "duration": 5, "warmup": 1, "workers": 2, "pinning": "pinned",
            "when": "2026-01-01 00:00 UTC", "machine": {"cpu": "x", "cores": 2, "kernel": "L"},
            "versions": {"Python": "3.11"}}
    block = report.render(summary, meta)
    assert "### Static files (issue 24)" in block
    assert "| `static-10k` | 18.0 µs, 1,000 req/s | 10.0 µs, 1,000 req/s | 100 µs" in block
    assert "| static 10 KiB: CPU per request vs nginx | ≤ 2.00x | 1.800x (rounds" in block
    assert static.parts(stats.summarize(_runs("hello", [(1.0, 1.0, 1.0)]))) == []


NEEDS = static.missing()
needs_servers = pytest.mark.skipif(bool(NEEDS), reason="; ".join(NEEDS))


@pytest.fixture
def workdir():
    """A directory nginx's workers (nobody) can reach, unlike pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="appserver-bench-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(workdir):
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1",
                BENCH_FILE=str(run.make_file(workdir)),
                BENCH_STATIC_DIR=str(static.make_dir(workdir)))


@needs_servers
@pytest.mark.timeout(120)
def test_each_server_answers_the_static_files(workdir):
    env = _env(workdir)
    directory = Path(env["BENCH_STATIC_DIR"])
    scenario = STATIC[0]
    for kind in static.SERVERS:
        with Server(kind, scenario.app, scenario.app_dir, 1, env,
                    workdir / ("%s.log" % kind), static_dir=str(directory)) as server:
            server.start(timeout=30)
            for name, _ in static.FILES.values():
                status, body = http_get(("127.0.0.1", server.port), "/static/" + name)
                assert status == 200, (kind, name)
                assert body == (directory / name).read_bytes(), (kind, name)


@needs_servers
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.timeout(120)
def test_a_short_measured_run_of_each_server(workdir):
    env = _env(workdir)
    args = argparse.Namespace(workers=1, warmup=0, duration=1, isolate=False)
    for kind in static.SERVERS:
        result = run.one_run(STATIC[0], kind, 1, args, (None, None), workdir, env)
        assert result["problems"] == [], (kind, result["problems"])
        assert result["requests"] > 0 and result["cpu_us_per_req"] > 0, kind


def test_static_scenarios_are_skipped_with_a_note_when_nginx_or_whitenoise_lack(monkeypatch):
    monkeypatch.setattr(static, "missing", lambda: ["nginx is not installed"])
    kept, note = run.choose_static(scenarios.by_names(["hello", "static-10k", "static-10m"]))
    assert [s.name for s in kept] == ["hello"]
    assert note == "static-10k, static-10m skipped: nginx is not installed"
    monkeypatch.setattr(static, "missing", lambda: [])
    assert run.choose_static(STATIC) == (STATIC, "")

