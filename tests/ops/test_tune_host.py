"""ops/tune-host.sh: a dry run (the default) lists every change and makes none."""

import os
import shutil
import subprocess

import pytest

from tests.fixtures import REPO

SCRIPT = REPO / "ops" / "tune-host.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run(*args, env=None):
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=30, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def fake_host(tmp_path):
    """A 4-core host: powersave governors, IRQs on every core, no isolation yet."""
    sys_root, proc = tmp_path / "sys", tmp_path / "proc"
    for c in range(4):
        d = sys_root / f"devices/system/cpu/cpu{c}/cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_governor").write_text("powersave\n")
    for irq in (1, 9, 24):
        d = proc / f"irq/{irq}"
        d.mkdir(parents=True)
        (d / "smp_affinity_list").write_text("0-3\n")
    (proc / "irq/default_smp_affinity").write_text("f\n")
    (proc / "cmdline").write_text("BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet\n")
    grub = tmp_path / "grub"
    grub.write_text('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet nohz_full=1"\n')
    env = {
        "TUNE_HOST_SYSFS": str(sys_root),
        "TUNE_HOST_PROCFS": str(proc),
        "TUNE_HOST_GRUB": str(grub),
        "TUNE_HOST_NCPU": "4",
    }
    return tmp_path, env


def snapshot(root):
    return {p: p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dry_run_is_the_default_and_changes_nothing(fake_host):
    root, env = fake_host
    before = snapshot(root)
    r = run("--cpus", "2,3", env=env)
    assert r.returncode == 0, r.stderr
    assert snapshot(root) == before
    assert "(dry-run)" in r.stdout and "nothing changed" in r.stdout


def test_dry_run_lists_isolation_irqs_and_governor(fake_host):
    _, env = fake_host
    out = run("--dry-run", "--cpus", "2-3", env=env).stdout
    assert "hot-path cores 2,3, housekeeping cores 0,1 of 4" in out
    # kernel command line: the three parameters, an older nohz_full replaced, not duplicated
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet isolcpus=managed_irq,domain,2,3 nohz_full=2,3 rcu_nocbs=2,3"' in out
    assert "would set: 3 IRQs' smp_affinity_list → 0,1" in out
    assert "default_smp_affinity → cores 0,1" in out
    for c in range(4):
        assert f"cpu{c} governor powersave → performance" in out


def test_what_is_already_done_is_not_listed_again(fake_host):
    root, env = fake_host
    (root / "proc/cmdline").write_text("quiet isolcpus=managed_irq,domain,2,3 nohz_full=2,3 rcu_nocbs=2,3\n")
    for irq in (1, 9, 24):
        (root / f"proc/irq/{irq}/smp_affinity_list").write_text("0,1\n")
    for c in range(4):
        (root / f"sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor").write_text("performance\n")
    out = run("--cpus", "2,3", env=env).stdout
    assert "already booted with nohz_full=2,3" in out
    assert "every IRQ already on cores 0,1" in out
    assert "cpu3 already performance" in out and "→ performance" not in out


def test_a_virtual_machine_without_cpufreq_is_reported(fake_host):
    root, env = fake_host
    shutil.rmtree(root / "sys")
    out = run("--cpus", "3", env=env).stdout
    assert "no cpufreq interface" in out


@pytest.mark.parametrize(
    "cpus, message",
    [
        ("7", "core 7 does not exist: this machine has 4 cores (0-3)"),
        ("0-3", "takes every core; leave at least one for housekeeping"),
        ("2;3", "expected core numbers and ranges"),
        ("3-2", "range '3-2' must be LOW-HIGH"),
    ],
)
def test_bad_core_sets_are_refused(fake_host, cpus, message):
    _, env = fake_host
    r = run("--cpus", cpus, env=env)
    assert r.returncode == 2 and message in r.stderr


def test_apply_needs_root(fake_host):
    if os.geteuid() == 0:
        pytest.skip("running as root: --apply would be allowed")
    _, env = fake_host
    r = run("--apply", "--cpus", "2,3", env=env)
    assert r.returncode == 2 and "--apply needs root" in r.stderr
