"""``--workers auto``: the workers setting accepts ``auto``, and ``appserver.deploy.cpus``
counts CPUs and memory from fake cgroup v2 trees in tmp_path."""

import os

import pytest

from appserver.config import convert
from appserver.deploy import cpus
from appserver.config import settings as S
from appserver.errors import ConfigError

MIB = 1 << 20
WORKERS = S.BY_NAME["workers"]


def cgroup(tmp_path, path="", **files):
    """A fake cgroup v2 mount at tmp_path/cg with ``files`` in the cgroup
    ``path`` (``cpu_max`` is written as ``cpu.max``); returns the root."""
    root = tmp_path / "cg"
    where = root / path.strip("/") if path.strip("/") else root
    where.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (where / name.replace("_", ".")).write_text(text + "\n")
    return root


def proc_cgroup(tmp_path, path):
    f = tmp_path / "proc-self-cgroup"
    f.write_text("12:memory:/legacy\n0::%s\n" % path)
    return str(f)


def auto(root, cpu_count=8, path="/", tmp_path=None, **kw):
    proc = proc_cgroup(tmp_path, path) if tmp_path else "/nonexistent/cgroup"
    return cpus.auto_workers(cgroup_root=str(root), cpu_count=cpu_count,
                             proc_self_cgroup=proc, **kw)


# -- the setting --------------------------------------------------------------

@pytest.mark.parametrize("raw, value", [
    ("auto", "auto"), (" AUTO ", "auto"), ("3", 3), (3, 3), ("1", 1)])
def test_workers_setting_takes_a_number_or_auto(raw, value):
    assert convert.convert(WORKERS, raw, "--workers") == value


@pytest.mark.parametrize("raw", ["0", 0, "-2", "lots", "auto2", True, 2.0, None])
def test_workers_setting_rejects_anything_else_and_mentions_auto(raw):
    with pytest.raises(ConfigError) as info:
        convert.convert(WORKERS, raw, "--workers")
    assert str(info.value) == (
        "workers: expected a whole number >= 1 or auto, got %r (from --workers)" % (raw,))


def test_workers_help_and_docs_name_auto():
    assert "'auto'" in WORKERS.help
    assert WORKERS.metavar == "INT|auto"


# -- resolve_workers ----------------------------------------------------------

def test_resolve_a_number_has_no_explanation():
    assert cpus.resolve_workers(4) == (4, None)


def test_resolve_auto_passes_the_probe_on(tmp_path):
    root = cgroup(tmp_path, cpu_max="100000 100000")
    n, why = cpus.resolve_workers("auto", cgroup_root=str(root), cpu_count=16,
                                  proc_self_cgroup="/nonexistent")
    assert n == 3
    assert why.startswith("workers auto: 3 (")


def test_resolve_auto_on_this_machine_is_at_least_one():
    n, why = cpus.resolve_workers("auto")
    assert n >= 1 and why.startswith("workers auto: %d" % n)


# -- CPUs ---------------------------------------------------------------------

def test_no_cgroup_files_uses_the_cpu_count(tmp_path):
    n, why = auto(cgroup(tmp_path), cpu_count=4)
    assert n == 9
    assert "2 x 4 CPUs + 1 = 9" in why
    assert "no CPU quota" in why and "no memory limit" in why


def test_cpu_count_defaults_to_the_affinity(tmp_path):
    n, _ = auto(cgroup(tmp_path), cpu_count=None)
    assert n == 2 * len(os.sched_getaffinity(0)) + 1


def test_quota_of_two_cpus(tmp_path):
    n, why = auto(cgroup(tmp_path, cpu_max="200000 100000"), cpu_count=8)
    assert n == 5
    assert "cpu.max quota 2 CPUs allows 2" in why


def test_fractional_quota_rounds_up(tmp_path):
    n, why = auto(cgroup(tmp_path, cpu_max="150000 100000"), cpu_count=8)
    assert n == 5
    assert "quota 1.5 CPUs allows 2" in why


def test_tiny_quota_still_counts_one_cpu(tmp_path):
    assert auto(cgroup(tmp_path, cpu_max="10000 100000"), cpu_count=8)[0] == 3


def test_quota_max_means_no_quota(tmp_path):
    n, why = auto(cgroup(tmp_path, cpu_max="max 100000"), cpu_count=2)
    assert n == 5 and "no CPU quota" in why


def test_quota_above_the_cpu_count_does_not_add_cpus(tmp_path):
    assert auto(cgroup(tmp_path, cpu_max="800000 100000"), cpu_count=2)[0] == 5


@pytest.mark.parametrize("text, count", [
    ("0-3,8", 5), ("0", 1), ("0-1", 2), ("2,4,6", 3), ("0-3,2-5", 6)])
def test_cpuset_ranges(tmp_path, text, count):
    n, why = auto(cgroup(tmp_path, cpuset_cpus_effective=text), cpu_count=64)
    assert n == 2 * count + 1
    assert "cpuset.cpus.effective allows %d" % count in why


@pytest.mark.parametrize("text", ["", "garbage", "3-", "a-b"])
def test_an_empty_or_broken_cpuset_is_ignored(tmp_path, text):
    assert auto(cgroup(tmp_path, cpuset_cpus_effective=text), cpu_count=2)[0] == 5


def test_the_smallest_of_count_cpuset_and_quota_wins(tmp_path):
    root = cgroup(tmp_path, cpu_max="300000 100000", cpuset_cpus_effective="0-3,8")
    assert auto(root, cpu_count=16)[0] == 7          # quota: 3 CPUs
    assert auto(root, cpu_count=2)[0] == 5           # count: 2 CPUs


# -- memory -------------------------------------------------------------------

def test_memory_limit_bounds_the_workers(tmp_path):
    root = cgroup(tmp_path, memory_max=str(512 * MIB))
    n, why = auto(root, cpu_count=8)
    assert n == 4
    assert "memory.max 512 MiB / 128 MiB per worker allows 4" in why


def test_a_memory_bound_suggests_threads_to_fill_the_cpus(tmp_path):
    root = cgroup(tmp_path, memory_max=str(512 * MIB))
    n, why = auto(root, cpu_count=8)                    # 17 wanted, 4 allowed
    assert why.endswith(". Memory allows fewer workers than the CPUs could keep busy "
                        "(17): if the app is thread-safe and waits on I/O, --threads 5 "
                        "lets the 4 workers run 20 requests at once (docs/threads.md)")
    assert "--threads" not in auto(root, cpu_count=8, threads=4)[1]   # already threads
    assert "--threads" not in auto(cgroup(tmp_path / "free", memory_max="max"), cpu_count=8)[1]
    n, why = cpus.resolve_workers("auto", 1, cgroup_root=str(root), cpu_count=8,
                                  proc_self_cgroup=str(tmp_path / "none"))
    assert n == 4 and "--threads 5" in why


def test_memory_limit_that_does_not_bind(tmp_path):
    assert auto(cgroup(tmp_path, memory_max=str(64 << 30)), cpu_count=2)[0] == 5


def test_memory_max_means_no_limit(tmp_path):
    n, why = auto(cgroup(tmp_path, memory_max="max"), cpu_count=2)
    assert n == 5 and "no memory limit" in why


def test_a_tiny_memory_limit_still_gives_one_worker(tmp_path):
    assert auto(cgroup(tmp_path, memory_max=str(50 * MIB)), cpu_count=8)[0] == 1


def test_per_worker_estimate_is_a_parameter(tmp_path):
    root = cgroup(tmp_path, memory_max=str(1024 * MIB))
    assert auto(root, cpu_count=8, per_worker_mib=256)[0] == 4
    assert cpus.DEFAULT_PER_WORKER_MIB == 128


# -- where the limits live ----------------------------------------------------

def test_limits_on_an_ancestor_of_the_own_cgroup_apply(tmp_path):
    root = cgroup(tmp_path, "system.slice", memory_max=str(256 * MIB))
    cgroup(tmp_path, "system.slice/app.service", cpu_max="max 100000",
           memory_max="max")
    n, why = auto(root, cpu_count=8, path="/system.slice/app.service", tmp_path=tmp_path)
    assert n == 2 and "memory.max 256 MiB" in why


def test_the_smallest_quota_along_the_path_wins(tmp_path):
    root = cgroup(tmp_path, "a", cpu_max="100000 100000")
    cgroup(tmp_path, "a/b", cpu_max="400000 100000")
    assert auto(root, cpu_count=8, path="/a/b", tmp_path=tmp_path)[0] == 3


def test_the_innermost_cpuset_wins(tmp_path):
    root = cgroup(tmp_path, "a", cpuset_cpus_effective="0-7")
    cgroup(tmp_path, "a/b", cpuset_cpus_effective="0-1")
    assert auto(root, cpu_count=8, path="/a/b", tmp_path=tmp_path)[0] == 5


def test_a_cgroup_path_not_mounted_here_falls_back_to_the_root(tmp_path):
    root = cgroup(tmp_path, cpu_max="100000 100000")
    n, _ = auto(root, cpu_count=8, path="/docker/abc123", tmp_path=tmp_path)
    assert n == 3


def test_cgroup_dirs_lists_innermost_first(tmp_path):
    root = cgroup(tmp_path, "a/b")
    dirs = cpus.cgroup_dirs(str(root), proc_cgroup(tmp_path, "/a/b"))
    assert dirs == [str(root / "a" / "b"), str(root / "a"), str(root)]


def test_a_missing_cgroup_root_means_no_limits(tmp_path):
    n, why = auto(tmp_path / "nowhere", cpu_count=3)
    assert n == 7 and "no CPU quota" in why and "no memory limit" in why


# -- parsers ------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("200000 100000\n", 2.0), ("50000 100000", 0.5), ("max 100000", None),
    ("", None), (None, None), ("100000 0", None), ("1 2 3", None)])
def test_parse_cpu_max(text, value):
    assert cpus.parse_cpu_max(text) == value


@pytest.mark.parametrize("text, value", [
    ("1073741824\n", 1 << 30), ("max\n", None), ("", None), (None, None), ("-1", None)])
def test_parse_memory_max(text, value):
    assert cpus.parse_memory_max(text) == value


# -- cgroup v1 ------------------------------------------------------------------

def cgroup_v1(tmp_path, own=(), **controllers):
    """A fake cgroup v1 tree at tmp_path/v1: ``controllers`` maps a mount
    (``cpu,cpuacct``, written ``cpu_cpuacct``) to ``{relative dir: {file:
    text}}``; ``own`` are the /proc/self/cgroup lines. Returns (root, proc)."""
    root = tmp_path / "v1"
    for mount, dirs in controllers.items():
        for relative, files in dirs.items():
            where = root / mount.replace("_", ",") / relative.strip("/")
            where.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (where / name).write_text(text + "\n")
    proc = tmp_path / "proc-self-cgroup-v1"
    proc.write_text("".join(line + "\n" for line in own) + "0::/\n")
    return str(root), str(proc)


def auto_v1(tree, cpu_count=8, **kw):
    root, proc = tree
    return cpus.auto_workers(cgroup_root=root, cpu_count=cpu_count,
                             proc_self_cgroup=proc, **kw)


def test_v1_cfs_quota_of_two_cpus(tmp_path):
    tree = cgroup_v1(tmp_path, ["4:cpu,cpuacct:/"], cpu_cpuacct={
        "/": {"cpu.cfs_quota_us": "200000", "cpu.cfs_period_us": "100000"}})
    n, why = auto_v1(tree)
    assert n == 5
    assert "cpu.cfs_quota_us quota 2 CPUs allows 2" in why


def test_v1_quota_minus_one_means_no_quota(tmp_path):
    tree = cgroup_v1(tmp_path, ["4:cpu,cpuacct:/"], cpu_cpuacct={
        "/": {"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"}})
    n, why = auto_v1(tree, cpu_count=2)
    assert n == 5 and "no CPU quota" in why


def test_v1_memory_limit_bounds_the_workers(tmp_path):
    tree = cgroup_v1(tmp_path, ["9:memory:/"], memory={
        "/": {"memory.limit_in_bytes": str(512 * MIB)}})
    n, why = auto_v1(tree)
    assert n == 4
    assert "memory.limit_in_bytes 512 MiB / 128 MiB per worker allows 4" in why


def test_v1_unlimited_memory_is_no_limit(tmp_path):
    tree = cgroup_v1(tmp_path, ["9:memory:/"], memory={
        "/": {"memory.limit_in_bytes": "9223372036854771712"}})
    n, why = auto_v1(tree, cpu_count=2)
    assert n == 5 and "no memory limit" in why


def test_v1_limits_on_the_own_cgroup_and_its_ancestors(tmp_path):
    own = ["11:memory:/kubepods/burstable/pod1/abc", "4:cpu,cpuacct:/kubepods/burstable/pod1/abc"]
    tree = cgroup_v1(tmp_path, own, memory={
        "/kubepods": {"memory.limit_in_bytes": str(4096 * MIB)},
        "/kubepods/burstable/pod1": {"memory.limit_in_bytes": str(384 * MIB)},
        "/kubepods/burstable/pod1/abc": {"memory.limit_in_bytes": "9223372036854771712"},
    }, cpu_cpuacct={
        "/kubepods/burstable/pod1/abc": {"cpu.cfs_quota_us": "150000",
                                         "cpu.cfs_period_us": "100000"}})
    n, why = auto_v1(tree, cpu_count=16)
    assert n == 3, why                 # 2 CPUs -> 5, memory 384 MiB -> 3
    assert "memory.limit_in_bytes 384 MiB" in why and "quota 1.5 CPUs allows 2" in why


def test_v1_a_path_outside_this_namespace_falls_back_to_the_mount(tmp_path):
    tree = cgroup_v1(tmp_path, ["4:cpu,cpuacct:/docker/0123abcd"], cpu_cpuacct={
        "/": {"cpu.cfs_quota_us": "100000", "cpu.cfs_period_us": "100000"}})
    assert auto_v1(tree)[0] == 3


def test_v1_separate_cpu_mount_and_cpuset(tmp_path):
    tree = cgroup_v1(tmp_path, ["3:cpuset:/", "2:cpu:/"],
                     cpu={"/": {"cpu.cfs_quota_us": "400000", "cpu.cfs_period_us": "100000"}},
                     cpuset={"/": {"cpuset.effective_cpus": "0-2"}})
    n, why = auto_v1(tree, cpu_count=8)
    assert n == 7 and "cpuset.effective_cpus allows 3" in why


def test_v1_and_v2_together_the_smallest_wins(tmp_path):
    root, proc = cgroup_v1(tmp_path, ["9:memory:/"], memory={
        "/": {"memory.limit_in_bytes": str(1024 * MIB)}})
    (tmp_path / "v1" / "memory.max").write_text("%d\n" % (256 * MIB))
    n, why = auto_v1((root, proc))
    assert n == 2 and "memory.max 256 MiB" in why
