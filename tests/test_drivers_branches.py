"""Driver branches and CUDA forward compatibility, from the matrix's NVIDIA data: the install fix offers
only branches supported on the matrix's date, and cuda-compat only where NVIDIA's table supports it.

Sources (compat_matrix.yaml names them): NVIDIA Data Center Drivers r620 page, Table 2 "CUDA and
Drivers" (R580 LTSB June 2028, R595 PB March 2027, R620 LTSB September 2029); the r615 page (R535 LTSB
June 2026); the r580-era page (R570 PB February 2026); CUDA Compatibility guide, Forward Compatibility,
"Use the Right CUDA Forward Compatibility Package" (cuda-compat-12-3..12-8 compatible with 535 only,
12-9 and 13-0 with 535 and 570; end-of-life and New Feature Branches are no targets; only data-center
GPUs, select NGC Server Ready RTX SKUs and Jetson). No probing: named machines in, findings out."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import yaml
from test_driver_machines import (
    A100,
    H100,
    RTX4090,
    T4,
    all_commands,
    by_id,
    driver,
    g1,
    load_driver_matrix,
    machine,
)
from test_libraries_checks import lib, libraries, pip_copy

from tfgpu.checks import load_all, run_checks
from tfgpu.matrix import MatrixError, default_path, validate
from tfgpu.probes.libraries import LoadResult

#: A day when R535 and R570 were still supported (both are in NVIDIA's forward-compatibility table).
BEFORE_R570_EOL = "2026-01-15"


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    return load_driver_matrix(tmp_path_factory.mktemp("matrix"))


def _driver_findings(facts, matrix):
    load_all()
    findings, crashed = run_checks(facts, matrix, ["driver-supports-tf-cuda"], {})
    assert not crashed, [f.summary for f in findings if f.id == "check-crashed"]
    return by_id(findings)


def _one(found, fid):
    assert fid in found, {k: [f.summary for f in v] for k, v in found.items()}
    return found[fid][0]


# --- the branches ---------------------------------------------------------------------------------------


def test_supported_branches_on_the_matrix_date(mx):
    assert mx.data_date.startswith("2026-11")
    assert mx.supported_branches() == (580, 595, 620)
    eol = {b.branch: (b.type, b.end_of_life) for b in mx.driver_branches}
    assert eol[580] == ("Long Term Support Branch", "2028-06")  # r620 page (the r580-era page said 2028-08)
    assert eol[595] == ("Production Branch", "2027-03")
    assert eol[620] == ("Long Term Support Branch", "2029-09")
    assert eol[535][1] == "2026-06" and eol[570][1] == "2026-02"
    # New Feature Branches are no install target: R590 and R610 have no row.
    assert not {590, 610} & set(eol)


@pytest.mark.parametrize("date,supported", [
    ("2025-12-01", (535, 570, 580, 595, 620)),
    ("2026-03-01", (535, 580, 595, 620)),
    ("2027-04-01", (580, 620)),
    ("2028-07-01", (620,)),
    ("2029-10-01", ()),
])
def test_branches_follow_the_data_date(mx, date, supported):
    assert replace(mx, data_date=date).supported_branches() == supported


def test_the_install_branch_is_the_oldest_supported_that_is_new_enough(mx):
    assert mx.branch_for("555.42.06") == 580
    assert mx.branch_for("470.82.01") == 580
    assert mx.branch_for("590.44.01") == 595
    assert mx.branch_for("600.1") == 620
    assert mx.branch_for("700.1") is None
    # No driver need (no TensorFlow yet): the oldest supported branch, never an ended one.
    assert mx.branch_for(None) == 580
    assert replace(mx, data_date="2025-12-01").branch_for(None) == 535


@pytest.mark.parametrize("distro,command", [
    ("ubuntu", "sudo apt-get install -y nvidia-driver-580"),
    ("debian", "sudo apt-get install -y cuda-drivers-580"),
    ("rocky", "sudo dnf module enable -y nvidia-driver:580-open"),
])
def test_a_driver_older_than_every_supported_branch_upgrades_to_a_supported_one(mx, distro, command):
    """Driver 470 (R470 ended long ago) with TensorFlow 2.21: the upgrade is R580, the oldest branch still
    supported that reaches CUDA 12.5.1's 555.42.06; never R470/R535/R550/R570."""
    facts = machine(driver("470.82.01", "11.4", g1(T4)), distro=distro)
    if distro in ("rocky", "debian"):  # NVIDIA's repositories are per release: Rocky 9, Debian 12 here
        facts["host"] = replace(facts["host"], distro_version="9.4" if distro == "rocky" else "12")
    found = _driver_findings(facts, mx)
    f = _one(found, "driver-too-old")
    cmds = all_commands(f)
    assert command in cmds
    offered = [c for c in cmds if "nvidia-driver" in c or "cuda-drivers" in c]
    assert offered and all("580" in c for c in offered), offered
    assert not any(old in c for c in cmds for old in ("-470", "-535", "-550", "-570", ":535", ":570"))
    assert any("R580" in x.summary for x in f.fixes)


def test_no_branch_left_falls_back_to_the_generic_packages(mx):
    late = replace(mx, data_date="2029-10-01")
    found = _driver_findings(machine(driver("470.82.01", "11.4", g1(T4))), late)
    cmds = all_commands(_one(found, "driver-too-old"))
    assert "sudo ubuntu-drivers install" in cmds
    assert not any("nvidia-driver-" in c for c in cmds)


# --- forward compatibility -------------------------------------------------------------------------------


def test_the_matrix_carries_nvidias_forward_compat_table(mx):
    packages = mx.forward_compat_packages
    assert packages["12.5"] == (535,)
    assert packages["12.8"] == (535,)
    assert packages["12.9"] == (535, 570)
    assert packages["13.0"] == (535, 570)
    assert "12.2" not in packages  # N/A on its own R535
    # On the matrix's date R535 and R570 have ended: no CUDA 12 package has a supported base branch.
    assert mx.forward_compat_branches("12.5.1") == ()
    assert replace(mx, data_date=BEFORE_R570_EOL).forward_compat_branches("12.5.1") == (535,)


def test_h100_on_r535_gets_cuda_compat_while_r535_is_supported(mx):
    early = replace(mx, data_date=BEFORE_R570_EOL)
    f = _one(_driver_findings(machine(driver("535.104.05", "12.2", g1(H100))), early), "driver-too-old")
    cmds = all_commands(f)
    assert "sudo apt-get install -y cuda-compat-12-5" in cmds
    assert 'export LD_LIBRARY_PATH="/usr/local/cuda-12.5/compat:$LD_LIBRARY_PATH"' in cmds
    assert any("R535" in x.summary and "cuda-compat-12-5" in x.summary for x in f.fixes)
    # ... and not on the matrix's own date, R535 being past its end of life.
    f = _one(_driver_findings(machine(driver("535.104.05", "12.2", g1(H100))), mx), "driver-too-old")
    assert not any("cuda-compat" in c for c in all_commands(f))


def test_no_cuda_compat_on_geforce(mx):
    """NVIDIA: forward compatibility is only for data-center GPUs, NGC Server Ready RTX SKUs and Jetson."""
    early = replace(mx, data_date=BEFORE_R570_EOL)
    f = _one(_driver_findings(machine(driver("535.104.05", "12.2", g1(RTX4090))), early), "driver-minor-compat")
    assert not any("cuda-compat" in c for c in all_commands(f))
    # The same driver and date on an A100 (data center) offers it.
    f = _one(_driver_findings(machine(driver("535.104.05", "12.2", g1(A100))), early), "driver-minor-compat")
    assert "sudo apt-get install -y cuda-compat-12-5" in all_commands(f)


def test_no_cuda_compat_on_a_branch_the_package_does_not_support(mx):
    """R550 is not in NVIDIA's table (end of life): cuda-compat-12-5 is no fix there, nor R570 for 12.5 (X)."""
    early = replace(mx, data_date=BEFORE_R570_EOL)
    for version, cuda in (("550.54.15", "12.4"), ("545.23.08", "12.3")):
        found = _driver_findings(machine(driver(version, cuda, g1(H100))), early)
        f = _one(found, "driver-too-old")
        assert not any("cuda-compat" in c for c in all_commands(f)), (version, all_commands(f))


def test_the_package_serves_the_newest_cuda_in_use(mx):
    """pip's [and-cuda] range put CUDA runtime 12.9 beside the 12.5.1 build: the package must be 12-9
    ('named after the highest toolkit that it can support'), which NVIDIA supports on R535 and R570."""
    early = replace(mx, data_date=BEFORE_R570_EOL)
    cudart = lib("cudart", "libcudart.so.12", pip_copy("cuda_runtime", "libcudart.so.12"),
                 LoadResult("loaded", version="12.9"))
    facts = {**machine(driver("535.104.05", "12.2", g1(H100))), "libraries": libraries(cudart)}
    load_all()
    findings, crashed = run_checks(facts, early, ["driver-supports-tf-cuda"], {})
    assert not crashed
    cmds = [c for f in findings for c in all_commands(f)]
    assert "sudo apt-get install -y cuda-compat-12-9" in cmds
    assert not any("cuda-compat-12-5" in c for c in cmds)


@pytest.mark.parametrize("distro,command", [
    ("rocky", "sudo dnf install -y cuda-compat-12-5"),
    ("debian", "sudo apt-get install -y cuda-compat-12-5"),
    ("sles", "sudo zypper install -y cuda-compat-12-5"),
])
def test_the_compat_package_uses_the_distributions_installer(mx, distro, command):
    early = replace(mx, data_date=BEFORE_R570_EOL)
    f = _one(_driver_findings(machine(driver("535.104.05", "12.2", g1(H100)), distro=distro), early),
             "driver-too-old")
    assert command in all_commands(f)


def test_an_unknown_distribution_gets_the_text_without_commands(mx):
    early = replace(mx, data_date=BEFORE_R570_EOL)
    f = _one(_driver_findings(machine(driver("535.104.05", "12.2", g1(H100)), distro="gentoo"), early),
             "driver-too-old")
    compat = [x for x in f.fixes if "cuda-compat" in x.summary]
    assert compat and compat[0].commands == ()


# --- validation -----------------------------------------------------------------------------------------


def _raw() -> dict:
    with open(default_path(), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize("packages,message", [
    ({12.5: ["535"]}, "quoted CUDA major.minor"),
    ({"12.5": [535]}, "quoted driver branches"),
    ({"12.5": "535"}, "quoted driver branches"),
    ("535", "expected a mapping"),
])
def test_bad_forward_compat_packages_are_refused(packages, message):
    data = copy.deepcopy(_raw())
    data["cuda_forward_compat"]["packages"] = packages
    with pytest.raises(MatrixError, match=message):
        validate(data)


def test_forward_compat_sources_must_exist():
    data = copy.deepcopy(_raw())
    data["cuda_forward_compat"]["packages_source"] = "nowhere"
    with pytest.raises(MatrixError, match="nowhere"):
        validate(data)


# --- the PTX-JIT floor ----------------------------------------------------------------------------------


def test_the_ptx_floor_is_said_to_be_conservative(mx):
    """The floor stays the build's toolkit driver (555.42.06 for CUDA 12.5.1), and the finding says so: a
    driver JIT-compiles PTX up to its CUDA release's PTX ISA (PTX ISA 'Release History'); CUDA 12.5.1
    writes ISA 8.5 at most, first in CUDA 12.5 (GA driver 555.42.02). The 2.21.0 wheel's compute_90 PTX
    is .version 8.3 and 8.5 (read from libtensorflow_cc.so.2), so 8.5 is what its PTX really asks."""
    from tfgpu.rules import ptx_isa_first_driver, ptx_jit_floor_note

    assert ptx_isa_first_driver(mx, "12.5.1") == ("8.5", "12.5", "555.42.02")
    assert ptx_isa_first_driver(mx, "12.6") == ("8.5", "12.5", "555.42.02")  # 12.6 writes ISA 8.5 too
    assert ptx_isa_first_driver(mx, "12.5.1", "windows") == ("8.5", "12.5", "555.85")
    assert ptx_isa_first_driver(mx, "99.1") is None
    note = ptx_jit_floor_note(mx, "12.5.1")
    assert "conservative" in note and "PTX ISA 8.5" in note and "555.42.02" in note
    f = _one(_driver_findings(machine(driver("535.104.05", "12.2", g1(H100))), mx), "driver-too-old")
    assert "a conservative floor" in f.summary and "555.42.06" in f.summary
    assert note in f.detail
