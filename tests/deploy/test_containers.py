"""Containers: examples/docker/Dockerfile read instruction by instruction (no
docker engine here), its package build from the files it copies (a wheel with
the C head splitter, as its build stage makes), and appserver
as PID 1 of a new PID and network namespace (``unshare``), started with the
image's own ENTRYPOINT, CMD and ENV: it binds 0.0.0.0:$PORT, stops gracefully
on SIGTERM and reaps orphaned grandchildren. The Kubernetes pod's arguments
run the same way: probes on the admin port, /readyz 503 during the shutdown
delay while the app still serves, then a graceful exit."""

import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from appserver.deploy.cpus import resolve_workers

from .files import dockerfile_env, exec_form, instructions, last, pod_and_container
from tests.harness.process import Proc, REPO_ROOT, app_env, wait_until
from tests.harness.procfs import children, state

NAMESPACES = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--net"]

pytestmark = pytest.mark.timeout(60)


# -- the Dockerfile -------------------------------------------------------------

def test_dockerfile_base_is_slim_python():
    assert instructions()[0][0] == "FROM"
    stages = [args for word, args in instructions() if word == "FROM"]
    for stage in stages:
        assert re.fullmatch(r"python:3\.\d+-slim( AS \w+)?", stage), stage
    assert " AS " not in stages[-1], "the final stage is the image"


def test_entrypoint_is_appserver_in_exec_form_with_a_cmd():
    assert exec_form("ENTRYPOINT") == ["appserver"]
    cmd = exec_form("CMD")
    assert cmd and not cmd[0].startswith("-"), "CMD starts with the app"


def test_runs_as_a_non_root_user_from_before_the_entrypoint():
    words = [word for word, _ in instructions()]
    user = last("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert re.fullmatch(r"\d+(:\d+)?", user), "numeric, for runAsNonRoot"
    assert max(i for i, w in enumerate(words) if w == "USER") < words.index("ENTRYPOINT")


def test_stop_signal_port_and_install():
    assert last("STOPSIGNAL") == "SIGTERM"
    port = dockerfile_env()["PORT"]
    assert last("EXPOSE") == port
    assert any(w == "RUN" and "pip install" in a for w, a in instructions())


def copied_sources():
    """What the Dockerfile copies from the build context (not from a stage)."""
    for word, args in instructions():
        if word == "COPY" and "--from=" not in args:
            parts = args.split()
            yield from (p for p in parts[:-1] if not p.startswith("--"))


def test_every_copied_path_exists_in_the_build_context():
    sources = list(copied_sources())
    assert "appserver" in sources and "pyproject.toml" in sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source


def copy_sources(src):
    """Copy what the Dockerfile copies into /src (the package) to ``src``."""
    src.mkdir()
    for source in copied_sources():
        if source.startswith("examples/"):
            continue
        copy = shutil.copytree if (REPO_ROOT / source).is_dir() else shutil.copy
        copy(REPO_ROOT / source, src / Path(source).name,
             **({"ignore": shutil.ignore_patterns("*.so", "__pycache__")}
                if (REPO_ROOT / source).is_dir() else {}))


def test_the_copied_files_are_enough_to_build_the_package(tmp_path):
    src = tmp_path / "src"
    copy_sources(src)
    script = "from setuptools import build_meta; print(build_meta.build_sdist(%r))" % str(tmp_path)
    done = subprocess.run([sys.executable, "-c", script], cwd=src, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [egg_info] = src.glob("*.egg-info")
    assert egg_info.name == "appserver_wsgi.egg-info"
    entry_points = (egg_info / "entry_points.txt").read_text()
    assert "appserver = appserver.cli:main" in entry_points


@pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler")
def test_the_build_stage_wheel_has_the_c_head_splitter(tmp_path):
    """The wheel built from exactly the copied files, as the build stage does
    (which installs gcc first), holds the compiled appserver.http._plain."""
    build_stage = [args for word, args in instructions() if word == "RUN"]
    assert any("gcc" in run for run in build_stage)
    assert any("pip wheel" in run and "/src" in run for run in build_stage)
    src = tmp_path / "src"
    copy_sources(src)
    wheels = tmp_path / "wheels"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir",
                           str(wheels), str(src)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = wheels.glob("*.whl")
    assert wheel.name.startswith("appserver_wsgi-"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "appserver = appserver.cli:main" in archive.read(entry_points).decode()
    assert [n for n in names if re.fullmatch(r"appserver/http/_plain\..*\.so", n)], names
    assert "appserver/cli.py" in names


# -- PID 1 ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def can_unshare():
    try:
        probe = subprocess.run(NAMESPACES + ["true"], capture_output=True, text=True,
                               timeout=10)
    except FileNotFoundError:
        pytest.skip("unshare is not installed")
    if probe.returncode != 0:
        pytest.skip("unshare --pid --net is not permitted here: " + probe.stderr.strip())


@pytest.fixture
def container(can_unshare):
    """Start argv as PID 1 of new PID, mount and network namespaces."""
    started = []

    def start(argv, env, cwd):
        shell = "ip link set lo up && exec \"$@\""
        proc = Proc(NAMESPACES + ["sh", "-c", shell, "sh"] + argv, env=env, cwd=cwd)
        started.append(proc)
        proc.start()
        proc.wait_for_log(r"Listening at: \S+ \(1\)")
        proc.arbiter = wait_until(lambda: children(proc.pid), 10, "unshare's child")[0]
        proc.track_main(proc.arbiter)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()
        shutil.rmtree(proc.tmpdir, ignore_errors=True)


def inside(proc, path, port=None):
    """GET 127.0.0.1:PORT/path from within the container's network namespace."""
    client = ("import http.client, sys; c = http.client.HTTPConnection('127.0.0.1', %s, "
              "timeout=10); c.request('GET', %r); r = c.getresponse(); "
              "sys.stdout.write('%%d %%s' %% (r.status, r.read().decode()))"
              % (port or proc.port, path))
    done = subprocess.run(["nsenter", "--target", str(proc.arbiter), "--net",
                           sys.executable, "-c", client],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr + proc.log()
    status, _, body = done.stdout.partition(" ")
    return int(status), body


def entrypoint_argv():
    """The image's ENTRYPOINT, as this interpreter's installed script."""
    script = Path(sys.executable).with_name("appserver")
    return [str(script)] if script.exists() else [sys.executable, "-m", "appserver"]


def test_the_image_command_runs_as_pid1_binds_port_and_stops_on_term(container, tmp_path):
    shutil.copy(REPO_ROOT / "examples" / "hello.py", tmp_path / "hello.py")   # WORKDIR
    env = app_env(**dockerfile_env())
    proc = container(entrypoint_argv() + exec_form("CMD"), env, tmp_path)
    proc.port = int(env["PORT"])
    assert "Listening at: http://0.0.0.0:%d (1)" % proc.port in proc.log()
    proc.wait_for_log(r"Ready: 2 workers booted")
    assert inside(proc, "/") == (200, "Hello, World!\n")
    os.kill(proc.arbiter, signal.SIGTERM)
    assert proc.wait_exit() == 0
    assert "Shutting down: master 1" in proc.log()


def test_pid1_reaps_an_orphaned_grandchild(container):
    env = app_env(PORT="8000")
    proc = container([sys.executable, "-m", "appserver", "deployapp", "--workers", "1"],
                     env, REPO_ROOT)
    proc.port = 8000
    proc.wait_for_log(r"Ready: 1 worker")
    workers = set(children(proc.arbiter))
    status, inner_pid = inside(proc, "/orphan?seconds=1")
    assert status == 200
    # The sleep's parent exited: it is adopted by PID 1, the arbiter...
    orphan = wait_until(lambda: [p for p in children(proc.arbiter) if p not in workers],
                        5, "the orphan to be adopted by the arbiter")[0]
    assert _ns_pid(orphan) == int(inner_pid)
    # ...which reaps it when it exits: no zombie is left behind.
    wait_until(lambda: state(orphan) is None, 10, "the orphan to be reaped, not a zombie")
    assert set(children(proc.arbiter)) == workers
    assert inside(proc, "/")[0] == 200
    os.kill(proc.arbiter, signal.SIGTERM)
    assert proc.wait_exit() == 0


def _ns_pid(pid):
    """The pid of ``pid`` in its innermost PID namespace (``NSpid``)."""
    status = Path("/proc/%d/status" % pid).read_text()
    return int(re.search(r"^NSpid:\s.*?(\d+)\s*$", status, re.M).group(1))


def test_the_kubernetes_pod_args_probe_drain_and_stop(container, tmp_path):
    pytest.importorskip("yaml", reason="PyYAML is not installed")
    pod, spec = pod_and_container()
    args = list(spec["args"])
    args[args.index("--workers") + 1] = "2"         # auto: see test_workers_auto_*
    args[args.index("--shutdown-delay") + 1] = "1"  # the manifest's 5 s, shortened
    shutil.copy(REPO_ROOT / "examples" / "hello.py", tmp_path / "hello.py")
    env = app_env(**{e["name"]: e["value"] for e in spec["env"]})
    proc = container(entrypoint_argv() + args, env, tmp_path)
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    proc.port = ports["http"]
    admin = ports[spec["readinessProbe"]["httpGet"]["port"]]
    readyz = spec["readinessProbe"]["httpGet"]["path"]
    healthz = spec["livenessProbe"]["httpGet"]["path"]
    proc.wait_for_log(r"Ready: 2 workers booted")
    assert inside(proc, readyz, admin) == (200, "ready\n")
    assert inside(proc, healthz, admin) == (200, "ok\n")
    mark = len(proc.log())
    os.kill(proc.arbiter, signal.SIGTERM)
    proc.wait_for_log(r"Received TERM: not ready any more", after=mark)
    assert inside(proc, readyz, admin) == (503, "draining\n")
    assert inside(proc, "/") == (200, "Hello, World!\n")     # still serving
    budget = pod["terminationGracePeriodSeconds"]
    assert proc.wait_exit(timeout=budget) == 0


def test_workers_auto_starts_the_computed_number_of_workers(container):
    n, explanation = resolve_workers("auto")
    proc = container([sys.executable, "-m", "appserver", "deployapp", "--workers", "auto"],
                     app_env(PORT="8000"), REPO_ROOT)
    proc.wait_for_log(r"Ready: %d workers? booted" % n)
    assert explanation in proc.log()
