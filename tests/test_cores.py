"""`auto` worker counts follow a container's CPU limit, not the node's core count
(`retouch_assets.cores`), read from fake cgroup trees."""

from pathlib import Path

from retouch_assets import cores
from retouch_assets.cores import available_cores, cgroup_cpu_limit


def _write(path: Path, text: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, value in (line.split("=", 1) for line in text.split(";")):
        (path / name).write_text(value + "\n", encoding="ascii")


def test_a_cgroup_v2_limit_rounds_up_to_whole_cores(tmp_path):
    _write(tmp_path, "cpu.max=1550000 100000")  # a Kubernetes limit of 15.5 CPUs
    assert cgroup_cpu_limit(tmp_path, "0::/\n") == 16


def test_no_limit_is_none(tmp_path):
    _write(tmp_path, "cpu.max=max 100000")
    assert cgroup_cpu_limit(tmp_path, "0::/\n") is None
    assert cgroup_cpu_limit(tmp_path / "absent", "0::/\n") is None


def test_the_smallest_limit_of_the_cgroup_and_its_ancestors_applies(tmp_path):
    _write(tmp_path / "kubepods.slice", "cpu.max=800000 100000")
    _write(tmp_path / "kubepods.slice" / "pod1" / "ctr", "cpu.max=1600000 100000")
    own = "0::/kubepods.slice/pod1/ctr\n"
    assert cgroup_cpu_limit(tmp_path, own) == 8


def test_a_cgroup_v1_quota_is_read_from_the_cpu_controller(tmp_path):
    _write(
        tmp_path / "cpu,cpuacct" / "docker" / "abc",
        "cpu.cfs_quota_us=250000;cpu.cfs_period_us=100000",
    )
    own = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n"
    assert cgroup_cpu_limit(tmp_path, own) == 3
    _write(
        tmp_path / "cpu,cpuacct" / "docker" / "abc", "cpu.cfs_quota_us=-1;cpu.cfs_period_us=100000"
    )
    assert cgroup_cpu_limit(tmp_path, own) is None


def test_a_limit_below_one_core_still_gives_one(tmp_path):
    _write(tmp_path, "cpu.max=20000 100000")
    assert cgroup_cpu_limit(tmp_path, "0::/\n") == 1


def test_garbage_files_are_no_limit(tmp_path):
    _write(tmp_path, "cpu.max=lots")
    assert cgroup_cpu_limit(tmp_path, "0::/\n") is None
    assert cgroup_cpu_limit(tmp_path, "not a cgroup line\n") is None


def test_available_cores_is_the_affinity_bounded_by_the_limit(monkeypatch):
    monkeypatch.setattr(cores, "_affinity", lambda: 96)
    monkeypatch.setattr(cores, "cgroup_cpu_limit", lambda: 16)
    available_cores.cache_clear()
    try:
        assert available_cores() == 16
        monkeypatch.setattr(cores, "cgroup_cpu_limit", lambda: None)
        available_cores.cache_clear()
        assert available_cores() == 96
        monkeypatch.setattr(cores, "cgroup_cpu_limit", lambda: 128)
        available_cores.cache_clear()
        assert available_cores() == 96
    finally:
        available_cores.cache_clear()


def test_this_machine_has_at_least_one_core():
    assert available_cores() >= 1
