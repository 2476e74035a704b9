"""Fixes that fit the machine (issue #13): every fix of every named machine, rendered through the check
registry with the real matrix, is checked against the context rules of `tfgpu.fixes.fit_fixes`, and each
rule has a named machine of its own.

Rules: in a container a host action (driver install, reboot, modprobe, nvidia-ctk, GPU reset, kernel log)
is the host's and never a command to run inside it, and starting the container with GPUs names the
Kubernetes request too (NVIDIA/k8s-device-plugin README: `resources: limits: nvidia.com/gpu: 1`); under
WSL2 the Windows driver, never a Linux one; as root, or without sudo, no `sudo`; the distribution's package
manager, with NVIDIA's CUDA repository added as commands (NVIDIA Driver Installation Guide, network
repository: `wget .../compute/cuda/repos/<distro>/<arch>/cuda-keyring_1.1-1_all.deb`, `dpkg -i`; dnf
`config-manager --add-repo .../cuda-rhel9.repo`; zypper `addrepo .../cuda-sles15.repo`); the user's shell
variables kept; a TensorFlow version change in a fresh environment first; no command twice in one
finding; a fix list never begins "Or"."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from typing import Any

import pytest
from test_driver_machines import MACHINES, T4, driver, driver_failure, g1, machine

from tfgpu.checks import builtin_registry
from tfgpu.checks.common import cuda_repo_commands, driver_target_text, vram_free_text
from tfgpu.fixes import (
    FixContext,
    command_problems,
    fit_fixes,
    fix_context,
    is_host_action,
    is_linux_driver_action,
    is_reboot,
    keep_shell_variable,
    uses_sudo,
    without_sudo,
)
from tfgpu.matrix import load as load_matrix
from tfgpu.model import Finding, Fix
from tfgpu.probes.driver import DriverFailure
from tfgpu.probes.host import on_path, package_manager_for

GIB = 1024**3


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def _host(facts: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {**facts, "host": replace(facts["host"], **kw)}


def _run(facts: dict[str, Any], matrix) -> list[Finding]:
    findings, crashed = builtin_registry().run(facts, matrix, None)
    assert not crashed, [f.summary for f in findings if f.id == "check-crashed"]
    return findings


def _cmds(f: Finding) -> list[str]:
    return [c for fix in f.fixes for c in fix.commands]


def _one(findings: list[Finding], fid: str) -> Finding:
    got = [f for f in findings if f.id == fid]
    assert len(got) == 1, (fid, [f.id for f in findings])
    return got[0]


# --- every fix of every named machine, in every context --------------------------------------------------

CONTEXTS = {
    "as_probed": {},
    "root_without_sudo": {"root": True, "sudo": False},
    "user_without_sudo": {"root": False, "sudo": False},
    "in_docker": {"container": "docker"},
    "in_kubernetes": {"container": "kubernetes", "root": True, "sudo": False},
}


def _violations(facts: dict[str, Any], findings: list[Finding], matrix) -> list[tuple[str, str, str]]:
    ctx = fix_context(facts)
    tf = getattr(facts.get("tf_build"), "version", None)
    tf = tf if tf and matrix.tf_row(tf) is not None else None
    bad = []
    for f in findings:
        if f.fixes and re.match(r"^Or\b", f.fixes[0].summary):
            bad.append((f.id, "first fix begins 'Or'", f.fixes[0].summary))
        if re.search(r"R\d{3} \(\d{3}\.", " ".join(x.summary for x in f.fixes)):
            bad.append((f.id, "a branch beside an older minimum", f.fixes[0].summary))
        cmds = _cmds(f)
        bad += [(f.id, "command twice in one finding", c) for c in sorted({c for c in cmds if cmds.count(c) > 1})]
        for c in cmds:
            if ctx.root is not None and ctx.sudo is False and uses_sudo(c):
                bad.append((f.id, "sudo where there is none", c))
            if ctx.root and uses_sudo(c):
                bad.append((f.id, "sudo as root", c))
            if ctx.container and is_host_action(c):
                bad.append((f.id, "host action inside a container", c))
            if ctx.container == "kubernetes" and c.startswith("docker "):
                bad.append((f.id, "docker inside Kubernetes", c))
            if ctx.wsl2 and (is_linux_driver_action(c) or is_reboot(c)):
                bad.append((f.id, "Linux driver action under WSL2", c))
            bad += [(f.id, p, c) for p in command_problems(c, matrix, tf_version=tf)]
    return bad


@pytest.mark.parametrize("context", sorted(CONTEXTS))
@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_fix_of_every_named_machine_fits_its_context(name, context, matrix):
    facts = _host(MACHINES[name], **CONTEXTS[context])
    findings = _run(facts, matrix)
    assert not _violations(facts, findings, matrix)


# --- container ------------------------------------------------------------------------------------------


def test_a_driver_upgrade_inside_a_container_is_the_hosts_and_never_a_reboot_here(matrix):
    facts = _host(machine(driver("535.104.05", "12.2", g1(("NVIDIA H100 80GB HBM3", "9.0", 81559)))),
                  container="docker")
    f = _one(_run(facts, matrix), "driver-too-old")
    cmds = _cmds(f)
    assert not any("reboot" in c or "nvidia-driver" in c for c in cmds), cmds
    host = [x for x in f.fixes if x.summary.startswith("On the host")]
    assert host and "sudo apt-get install -y nvidia-driver-580" in host[0].summary and not host[0].commands
    # The in-container way out (an older TensorFlow in a fresh venv) stays a command.
    assert any("-m venv" in c for c in cmds)


def test_a_container_without_gpus_leads_with_docker_run_and_the_kubernetes_request(matrix):
    f = _one(_run(MACHINES["container_without_gpus"], matrix), "container-no-gpu-passthrough")
    first = f.fixes[0]
    assert first.commands == ("docker run --gpus all <image> ...",)
    assert "resources: limits: nvidia.com/gpu: 1" in first.summary
    assert not any("nvidia-ctk" in c or "systemctl" in c for c in _cmds(f))
    assert any("nvidia-ctk runtime configure" in x.summary and x.summary.startswith("On the host") for x in f.fixes)


def test_in_kubernetes_the_gpu_is_a_resource_request_not_docker_run(matrix):
    facts = _host(MACHINES["container_without_gpus"], container="kubernetes")
    f = _one(_run(facts, matrix), "container-no-gpu-passthrough")
    assert "nvidia.com/gpu: 1" in f.fixes[0].summary
    assert not any(c.startswith("docker") for c in _cmds(f))


def test_a_driver_library_mismatch_inside_a_container_is_a_host_reboot(matrix):
    facts = _host(MACHINES["upgraded_without_reboot"], container="docker")
    f = _one(_run(facts, matrix), "driver-library-mismatch")
    assert not any(is_host_action(c) for c in _cmds(f))
    assert all(x.summary.lower().startswith(("on the host", "or on the host")) for x in f.fixes), f.fixes
    assert not re.match(r"^Or\b", f.fixes[0].summary)


def test_gpu_processes_seen_from_a_container_are_stopped_on_the_host(matrix):
    facts = _host(MACHINES["a100_busy"], container="docker")
    f = _one(_run(facts, matrix), "vram-in-use")
    assert "nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv" in _cmds(f)
    assert not any(c.startswith("kill") for c in _cmds(f))
    assert any("on the host, not inside this container: kill 4242 4343" in x.summary for x in f.fixes)


# --- WSL2 ------------------------------------------------------------------------------------------------


def test_wsl2_gets_the_windows_driver_never_a_linux_one(matrix):
    f = _one(_run(MACHINES["wsl2_driver_537_rtx4090_tf221"], matrix), "driver-minor-compat")
    assert not any(is_linux_driver_action(c) for c in _cmds(f))
    assert "Windows" in f.fixes[0].summary and "555.85" in f.fixes[0].summary
    assert "wsl.exe --shutdown" in _cmds(f)


def test_a_linux_driver_fix_under_wsl2_becomes_the_windows_driver():
    linux = (Fix("Install an NVIDIA driver of at least 555.42.06: branch R580",
                 ("sudo apt-get install -y nvidia-driver-580", "sudo reboot")),
             Fix("Or reload the modules", ("sudo modprobe nvidia",)))
    got = fit_fixes(linux, FixContext(wsl2=True))
    assert [c for f in got for c in f.commands] == ["wsl.exe --shutdown"]
    assert "on Windows to 555.42.06 or newer" in got[0].summary


# --- root, sudo --------------------------------------------------------------------------------------------


def test_root_without_sudo_gets_no_sudo(matrix):
    facts = _host(MACHINES["upgraded_without_reboot"], root=True, sudo=False)
    cmds = _cmds(_one(_run(facts, matrix), "driver-library-mismatch"))
    assert "reboot" in cmds and "modprobe nvidia" in cmds
    assert not any(uses_sudo(c) for c in cmds)


def test_a_user_without_sudo_is_told_the_commands_need_root(matrix):
    facts = _host(MACHINES["nouveau_loaded"], root=False, sudo=False)
    f = _one(_run(facts, matrix), "driver-not-loaded")
    assert not any(uses_sudo(c) for c in _cmds(f))
    assert all("as root" in x.summary for x in f.fixes if x.commands and x.commands != ("mokutil --sb-state",))


def test_sudo_is_taken_off_every_command_it_starts():
    assert without_sudo('printf "x\\n" | sudo tee /etc/a.conf') == 'printf "x\\n" | tee /etc/a.conf'
    assert without_sudo("sudo dmesg | grep -i xid && sudo reboot") == "dmesg | grep -i xid && reboot"
    assert without_sudo("echo pseudo sudoers") == "echo pseudo sudoers"


def test_a_user_with_sudo_keeps_it(matrix):
    facts = _host(MACHINES["upgraded_without_reboot"], root=False, sudo=True)
    assert "sudo reboot" in _cmds(_one(_run(facts, matrix), "driver-library-mismatch"))


# --- distribution and package manager ---------------------------------------------------------------------


def test_debian_12_gets_the_cuda_keyring_as_commands(matrix):
    facts = _host(MACHINES["no_driver"], distro_id="debian", distro_version="12")
    cmds = _cmds(_one(_run(facts, matrix), "driver-missing"))
    assert cmds[:4] == [
        "wget https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb",
        "sudo dpkg -i cuda-keyring_1.1-1_all.deb", "sudo apt-get update", "sudo apt-get install -y cuda-drivers-580"]


def test_in_a_container_the_driver_install_and_its_repository_steps_are_all_the_hosts(matrix):
    """Adding NVIDIA's repository serves the host's driver install: inside a container none of it is a command
    (a driver/runtime mismatch seen from a Debian 12 container whose host driver is too old)."""
    facts = _host(MACHINES["driver_535_h100_tf221"], distro_id="debian", distro_version="12", container="docker")
    for f in _run(facts, matrix):
        cmds = _cmds(f)
        assert not any("cuda-keyring" in c or c.endswith("apt-get update") or "cuda-drivers" in c for c in cmds), \
            (f.id, cmds)


def test_rocky_9_adds_nvidias_dnf_repository(matrix):
    facts = _host(MACHINES["no_driver"], distro_id="rocky", distro_version="9.4")
    cmds = _cmds(_one(_run(facts, matrix), "driver-missing"))
    assert cmds[0] == ("sudo dnf config-manager --add-repo "
                       "https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64/cuda-rhel9.repo")
    assert cmds[1:] == ["sudo dnf module enable -y nvidia-driver:580-open", "sudo dnf install -y nvidia-open",
                        "sudo reboot"]


def test_sles_15_adds_nvidias_zypper_repository(matrix):
    facts = _host(MACHINES["no_driver"], distro_id="sles", distro_version="15.6")
    f = _one(_run(facts, matrix), "driver-missing")
    assert _cmds(f)[0] == ("sudo zypper addrepo "
                           "https://developer.download.nvidia.com/compute/cuda/repos/sles15/x86_64/cuda-sles15.repo")
    assert not any("apt-get" in c or "dnf" in c for c in _cmds(f))


def test_ubuntu_uses_its_own_archive_and_an_arm_server_the_sbsa_repository(matrix):
    cmds = _cmds(_one(_run(MACHINES["no_driver"], matrix), "driver-missing"))
    assert cmds == ["sudo apt-get install -y nvidia-driver-580", "sudo reboot"]
    assert cuda_repo_commands("rhel", "9", "aarch64") == (
        "sudo dnf config-manager --add-repo https://developer.download.nvidia.com/compute/cuda/repos/rhel9/sbsa/"
        "cuda-rhel9.repo",)
    assert cuda_repo_commands("debian", None, "x86_64") == ()


def test_the_package_manager_comes_from_os_release_then_path(tmp_path):
    assert package_manager_for("ubuntu") == "apt"
    assert package_manager_for("neon", "ubuntu debian") == "apt"
    assert package_manager_for("rocky", "rhel centos fedora") == "dnf"
    assert package_manager_for("opensuse-leap", "suse opensuse") == "zypper"
    assert package_manager_for("azurelinux") == "tdnf"
    tool = tmp_path / "zypper"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    assert package_manager_for("unknown", None, on_path({"PATH": str(tmp_path)})) == "zypper"
    assert package_manager_for("unknown", None, on_path({"PATH": os.devnull})) is None


def test_the_host_probe_finds_sudo_on_path_without_running_it(tmp_path):
    sudo = tmp_path / "sudo"
    sudo.write_text("#!/bin/sh\nexit 99\n")
    sudo.chmod(sudo.stat().st_mode | stat.S_IXUSR)
    assert on_path({"PATH": str(tmp_path)})("sudo")
    assert not on_path({"PATH": str(tmp_path / "none")})("sudo")


# --- the user's shell variables ---------------------------------------------------------------------------


def test_xla_flags_keep_the_users_flags():
    cmd = "export XLA_FLAGS=--xla_gpu_cuda_data_dir=/usr/local/cuda-12.5"
    assert keep_shell_variable(cmd, None) == 'export XLA_FLAGS="$XLA_FLAGS --xla_gpu_cuda_data_dir=/usr/local/cuda-12.5"'
    assert keep_shell_variable(cmd, {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}).startswith('export XLA_FLAGS="$XLA_FLAGS ')
    assert keep_shell_variable(cmd, {}) == cmd  # not set: nothing to keep
    # The toolkit check already spells the user's flags out: kept as it is.
    spelled = "export XLA_FLAGS='--xla_dump_to=/tmp/x --xla_gpu_cuda_data_dir=/usr/local/cuda-12.5'"
    assert keep_shell_variable(spelled, {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}) == spelled


def test_ld_library_path_keeps_the_users_folders():
    cmd = "export LD_LIBRARY_PATH=/usr/local/cuda-12.8/compat"
    assert (keep_shell_variable(cmd, {"LD_LIBRARY_PATH": "/opt/x"})
            == 'export LD_LIBRARY_PATH="/usr/local/cuda-12.8/compat:$LD_LIBRARY_PATH"')
    # A folder taken off the user's own value is a rewrite of it, not an addition.
    assert keep_shell_variable("export LD_LIBRARY_PATH=/usr/lib", {"LD_LIBRARY_PATH": "/opt/cudnn:/usr/lib"}) == \
        "export LD_LIBRARY_PATH=/usr/lib"
    kept = 'export LD_LIBRARY_PATH="/usr/lib/wsl/lib:$LD_LIBRARY_PATH"'
    assert keep_shell_variable(kept, {"LD_LIBRARY_PATH": "/opt/x"}) == kept


# --- a TensorFlow version change goes into a fresh environment ------------------------------------------


def test_an_older_tensorflow_goes_into_a_fresh_venv_first(matrix):
    f = _one(_run(MACHINES["driver_470_tf221"], matrix), "driver-too-old")
    fresh = next(x for x in f.fixes if any("-m venv" in c for c in x.commands))
    assert fresh.commands == ("/srv/venv/bin/python -m venv ~/venvs/tf-2.14",
                              "~/venvs/tf-2.14/bin/python -m pip install 'tensorflow[and-cuda]==2.14.1'")
    in_place = f.fixes[f.fixes.index(fresh) + 1]
    assert in_place.summary.startswith("Or install TensorFlow 2.14 in place")
    assert in_place.commands == ("/srv/venv/bin/python -m pip install 'tensorflow[and-cuda]==2.14.1'",)


def test_in_a_conda_env_the_fresh_environment_is_a_conda_env_with_the_same_python(matrix):
    facts = dict(MACHINES["driver_470_tf221"])
    facts["python_env"] = replace(facts["python_env"], executable="/opt/conda/envs/ml/bin/python",
                                  prefix="/opt/conda/envs/ml", is_venv=False, is_conda=True)
    f = _one(_run(facts, matrix), "driver-too-old")
    cmds = _cmds(f)
    assert "conda create -y -n tf-2.14 python=3.11" in cmds
    assert "conda run -n tf-2.14 python -m pip install 'tensorflow[and-cuda]==2.14.1'" in cmds


def test_the_same_release_with_its_extra_stays_in_place(matrix):
    f = _one(_run(MACHINES["a100_idle"], matrix), "and-cuda-missing")
    assert _cmds(f) == ["/srv/venv/bin/python -m pip install 'tensorflow[and-cuda]==2.21.*'"]


# --- wording ---------------------------------------------------------------------------------------------


def test_a_fix_list_never_begins_with_or(matrix):
    f = _one(_run(MACHINES["k80_tf221"], matrix), "driver-too-old")
    assert f.fixes and not f.fixes[0].summary.startswith("Or")


def test_the_branch_and_the_minimum_driver_do_not_read_as_a_contradiction(matrix):
    f = _one(_run(MACHINES["driver_470_t4_tf221"], matrix), "driver-too-old")
    text = f.fixes[0].summary
    assert "at least 555.42.06" in text and "R580" in text and "R580 (555" not in text
    assert driver_target_text(None, "555.42.06") == "a current NVIDIA driver (at least 555.42.06)"


def test_no_command_twice_in_one_finding(matrix):
    f = _one(_run(MACHINES["nouveau_loaded"], matrix), "driver-not-loaded")
    cmds = _cmds(f)
    assert len(cmds) == len(set(cmds)) and "sudo modprobe nvidia" in cmds
    assert any("then again (above): sudo modprobe nvidia" in x.summary for x in f.fixes)


def test_vram_amounts_are_rounded_alike():
    assert vram_free_text(int(11.2 * GIB), int(11.2 * GIB)) == "11.2 of 11.2 GiB VRAM free"
    assert vram_free_text(int(1.9 * GIB), 80 * GIB) == "1.9 of 80 GiB VRAM free"


def test_a_debian_container_without_a_driver_is_never_told_to_install_one(matrix):
    facts = machine(driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded"),
                    distro="debian")
    facts = _host(facts, container="docker", distro_version="12")
    cmds = [c for f in _run(facts, matrix) for c in _cmds(f)]
    assert not any("cuda-drivers" in c or "cuda-keyring" in c or "reboot" in c for c in cmds), cmds


def test_the_t4_on_470_as_root_in_a_container(matrix):
    facts = _host(machine(driver("470.82.01", "11.4", g1(T4))), container="docker", root=True, sudo=False)
    findings = _run(facts, matrix)
    assert not _violations(facts, findings, matrix)
