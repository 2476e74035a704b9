"""The driver install fix on RHEL-like distributions and Fedora: NVIDIA's repository added with the syntax of
that release's dnf (DNF 4 `--add-repo` on RHEL 8/9/10 and Fedora 40, DNF 5 `addrepo --from-repofile=` from
Fedora 41), then the install of NVIDIA's driver installation guide ("Kernel Modules", open GPU kernel module
table); no `dnf module` on Fedora (no modules since Fedora 39, no module command in DNF 5) or RHEL 10; and no
command at all where NVIDIA's repository index has no driver repository for the release or architecture."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from test_driver_machines import MACHINES

from tfgpu.checks import builtin_registry
from tfgpu.checks.common import DRIVER_GUIDE, cuda_repo_commands
from tfgpu.matrix import load as load_matrix
from tfgpu.model import Finding

REPOS = "https://developer.download.nvidia.com/compute/cuda/repos"


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def _driver_missing(matrix, **host: Any) -> Finding:
    facts = MACHINES["no_driver"]
    facts = {**facts, "host": replace(facts["host"], **host)}
    findings, crashed = builtin_registry().run(facts, matrix, None)
    assert not crashed
    found = [f for f in findings if f.id == "driver-missing"]
    assert len(found) == 1, [f.id for f in findings]
    return found[0]


def _cmds(f: Finding) -> list[str]:
    return [c for fix in f.fixes for c in fix.commands]


def test_fedora_40_uses_dnf4_add_repo_and_cuda_drivers(matrix):
    cmds = _cmds(_driver_missing(matrix, distro_id="fedora", distro_version="40", machine="x86_64"))
    assert cmds == [f"sudo dnf config-manager --add-repo {REPOS}/fedora40/x86_64/cuda-fedora40.repo",
                    "sudo dnf install -y cuda-drivers", "sudo reboot"]


@pytest.mark.parametrize("release", ["41", "42"])
def test_fedora_41_and_42_use_dnf5_addrepo_and_nvidia_open(matrix, release):
    f = _driver_missing(matrix, distro_id="fedora", distro_version=release, machine="x86_64")
    assert _cmds(f) == [
        f"sudo dnf config-manager addrepo --from-repofile={REPOS}/fedora{release}/x86_64/cuda-fedora{release}.repo",
        "sudo dnf install -y nvidia-open", "sudo reboot"]
    assert not any("module" in c or "--add-repo" in c for c in _cmds(f))
    text = " ".join(x.summary for x in f.fixes)
    assert "Turing" in text
    # Fedora 42 gets newer drivers (a branch is held with version locking); NVIDIA's Fedora 41 repository no
    # longer changes (R570 is what it installs), which the text says instead of a branch it cannot give.
    assert ("Version locking" in text) if release == "42" else ("R570" in text and "no longer changes" in text)


@pytest.mark.parametrize("release", ["39", "45", "", None])
def test_a_fedora_release_without_a_driver_repository_gets_no_command(matrix, release):
    f = _driver_missing(matrix, distro_id="fedora", distro_version=release, machine="x86_64")
    assert _cmds(f) == []
    assert DRIVER_GUIDE in f.fixes[0].links
    assert "NVIDIA's CUDA repository" in f.fixes[0].summary


def test_arm_fedora_gets_no_command(matrix):
    """The fedora sbsa repositories hold libraries and tools, no driver packages."""
    assert cuda_repo_commands("fedora", "42", "aarch64") == ()
    assert _cmds(_driver_missing(matrix, distro_id="fedora", distro_version="42", machine="aarch64")) == []


@pytest.mark.parametrize("distro,version,major", [("rhel", "8.10", "8"), ("rhel", "9.4", "9"), ("rocky", "9.4", "9"),
                                                  ("almalinux", "8.9", "8"), ("ol", "9.3", "9")])
def test_rhel_8_and_9_enable_the_open_module_stream_of_the_branch(matrix, distro, version, major):
    f = _driver_missing(matrix, distro_id=distro, distro_version=version, machine="x86_64")
    assert _cmds(f) == [f"sudo dnf config-manager --add-repo {REPOS}/rhel{major}/x86_64/cuda-rhel{major}.repo",
                        "sudo dnf module enable -y nvidia-driver:580-open", "sudo dnf install -y nvidia-open",
                        "sudo reboot"]
    assert "R580" in f.fixes[0].summary


def test_rhel_9_without_a_supported_branch_follows_the_open_dkms_stream(matrix):
    bare = replace(matrix, driver_branches=())
    cmds = _cmds(_driver_missing(bare, distro_id="rocky", distro_version="9.4", machine="x86_64"))
    assert cmds[1:] == ["sudo dnf module enable -y nvidia-driver:open-dkms", "sudo dnf install -y nvidia-open",
                        "sudo reboot"]


@pytest.mark.parametrize("distro", ["rhel", "rocky", "almalinux", "ol"])
def test_rhel_10_has_no_module_streams(matrix, distro):
    f = _driver_missing(matrix, distro_id=distro, distro_version="10.0", machine="x86_64")
    assert _cmds(f) == [f"sudo dnf config-manager --add-repo {REPOS}/rhel10/x86_64/cuda-rhel10.repo",
                        "sudo dnf install -y nvidia-open", "sudo reboot"]
    assert "Version locking" in f.fixes[0].summary


def test_arm_rhel_uses_the_sbsa_repository(matrix):
    assert cuda_repo_commands("rhel", "10", "aarch64") == (
        f"sudo dnf config-manager --add-repo {REPOS}/rhel10/sbsa/cuda-rhel10.repo",)
    cmds = _cmds(_driver_missing(matrix, distro_id="rocky", distro_version="9.4", machine="aarch64"))
    assert cmds[0] == f"sudo dnf config-manager --add-repo {REPOS}/rhel9/sbsa/cuda-rhel9.repo"


@pytest.mark.parametrize("version", ["7.9", "11", None])
def test_a_rhel_release_without_a_repository_gets_no_command(matrix, version):
    f = _driver_missing(matrix, distro_id="rhel", distro_version=version, machine="x86_64")
    assert _cmds(f) == []
    assert DRIVER_GUIDE in f.fixes[0].links


def test_no_rpm_fix_offers_a_module_install_of_the_old_proprietary_streams(matrix):
    for distro, version in (("fedora", "41"), ("fedora", "40"), ("rhel", "9.4"), ("rhel", "10.0")):
        cmds = _cmds(_driver_missing(matrix, distro_id=distro, distro_version=version, machine="x86_64"))
        assert not any("dnf module install" in c or "-dkms" in c and "open-dkms" not in c for c in cmds), cmds


# --- where the repository's driver would not work: no install command -----------------------------------


def _too_old(matrix, name: str, **host: Any) -> Finding:
    facts = MACHINES[name]
    facts = {**facts, "host": replace(facts["host"], **host)}
    findings, crashed = builtin_registry().run(facts, matrix, None)
    assert not crashed
    found = [f for f in findings if f.id in ("driver-too-old", "driver-minor-compat")]
    assert found, [f.id for f in findings]
    return found[0]


@pytest.mark.parametrize("distro,release", [("rocky", "9.4"), ("rhel", "10.0"), ("fedora", "42")])
def test_a_gpu_older_than_turing_is_never_offered_the_open_modules(matrix, distro, release):
    # Tesla V100 (compute capability 7.0) with driver 418: nvidia-open does not run on Volta.
    f = _too_old(matrix, "driver_418_v100_tf211", distro_id=distro, distro_version=release, machine="x86_64")
    cmds = _cmds(f)
    assert not any("nvidia-open" in c or "open-dkms" in c or "-open" in c.split(":")[-1] for c in cmds), cmds
    assert any("config-manager" in c for c in cmds)  # adding NVIDIA's repository still stands
    text = " ".join(x.summary for x in f.fixes)
    assert "Tesla V100" in text and "7.0" in text and "proprietary" in text


def test_a_turing_gpu_still_gets_the_open_modules(matrix):
    f = _too_old(matrix, "driver_470_t4_tf221", distro_id="rocky", distro_version="9.4", machine="x86_64")
    assert "sudo dnf install -y nvidia-open" in _cmds(f)


def test_a_frozen_fedora_repository_below_the_needed_driver_gives_no_command():
    from tfgpu.checks.common import _rpm_driver_fix

    stale = _rpm_driver_fix("fedora", "41", "x86_64", 580, "an NVIDIA driver of at least 580.65.06", "580.65.06")
    assert stale.commands == () and "R570" in stale.summary and "upgrade Fedora" in stale.summary
    fresh = _rpm_driver_fix("fedora", "42", "x86_64", 580, "an NVIDIA driver of at least 580.65.06", "580.65.06")
    assert "sudo dnf install -y nvidia-open" in fresh.commands
    ok = _rpm_driver_fix("fedora", "40", "x86_64", 550, "an NVIDIA driver of at least 550.54.14", "550.54.14")
    assert "sudo dnf install -y cuda-drivers" in ok.commands


@pytest.mark.parametrize("release,machine", [("13", "x86_64"), (None, "x86_64"), ("12", "aarch64")])
def test_debian_without_a_known_nvidia_repository_gets_no_install_command(matrix, release, machine):
    # Debian packages no cuda-drivers itself: `apt-get install cuda-drivers-<branch>` fails unless NVIDIA's
    # repository was added, which tfgpu can only say as commands for the releases it knows (debian11/12, x86_64).
    f = _driver_missing(matrix, distro_id="debian", distro_version=release, machine=machine)
    assert _cmds(f) == []
    text = " ".join(x.summary for x in f.fixes)
    assert "cuda-keyring" in text and "cuda-drivers" in text
    known = _driver_missing(matrix, distro_id="debian", distro_version="12", machine="x86_64")
    assert any(c.startswith("sudo apt-get install -y cuda-drivers") for c in _cmds(known))
