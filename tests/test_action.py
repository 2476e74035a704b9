"""action.yml is a valid composite action, and its steps work: parsed and checked against GitHub's
documented metadata syntax (docs.github.com, "Metadata syntax reference": name, description,
inputs, outputs with value, runs.using composite, a shell on each run step), then run here the way
a runner runs them, and so is the example workflow of docs/ci.md.

How the steps run: each `run:` script in order with `bash --noprofile --norc -eo pipefail` (what
`shell: bash` means on a runner), its `env:` with the `${{ }}` expressions a runner would fill in
(inputs, earlier steps' outputs, github.action_path), a fresh GITHUB_OUTPUT file per step, and
GITHUB_ACTIONS, RUNNER_TEMP, GITHUB_STEP_SUMMARY, GITHUB_ACTION_PATH (this checkout) set; `uses:`
steps (upload-artifact) are not run. Steps after a failed one run only with `if: failure()` or
`always()`, as on a runner.

Installing tfgpu, fast and offline: the install step runs as written (`python3 -m venv` under
RUNNER_TEMP, then pip), with the `version` input naming this checkout's version and pip's own
environment variables pointing it at a wheel the test zips from src/ (PIP_NO_INDEX, PIP_FIND_LINKS,
PIP_NO_DEPS); the dependencies come from this test venv's site-packages through PYTHONPATH. The
venv is made once per module (RUNNER_TEMP is shared; the step reuses a venv it finds).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import tfgpu_env
from test_driver_standin import A100, build_fake_nvml, nvml_env

import tfgpu

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
CI_DOC = ROOT / "docs" / "ci.md"

#: GitHub's documented keys (metadata syntax reference).
TOP_KEYS = {"name", "author", "description", "inputs", "outputs", "runs", "branding"}
INPUT_KEYS = {"description", "required", "default", "deprecationMessage"}
STEP_KEYS = {"name", "id", "if", "run", "shell", "uses", "with", "env", "working-directory", "continue-on-error"}
COLORS = {"white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"}
ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
EXPR_RE = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


# --- the metadata, against the documented syntax ---------------------------------------------


def test_the_metadata_follows_the_documented_syntax():
    data = _action()
    assert set(data) <= TOP_KEYS and {"name", "description", "runs"} <= set(data)
    assert isinstance(data["name"], str) and data["name"] and isinstance(data["description"], str)
    for name, spec in data["inputs"].items():
        assert ID_RE.match(name) and set(spec) <= INPUT_KEYS, name
        assert isinstance(spec["description"], str) and spec["description"], name
        assert isinstance(spec.get("required", False), bool), name
        assert isinstance(spec.get("default", ""), str), f"{name}: a default is a string"
    for name, spec in data["outputs"].items():
        assert ID_RE.match(name) and set(spec) == {"description", "value"}, name
        assert EXPR_RE.fullmatch(spec["value"]), name
    runs = data["runs"]
    assert runs["using"] == "composite" and set(runs) == {"using", "steps"}
    ids = [s["id"] for s in runs["steps"] if "id" in s]
    assert len(ids) == len(set(ids))
    for step in runs["steps"]:
        assert set(step) <= STEP_KEYS, step.get("name")
        assert ("run" in step) != ("uses" in step), step.get("name")
        if "run" in step:
            assert step["shell"] == "bash" and "with" not in step
        else:
            assert "shell" not in step
    assert data["branding"]["color"] in COLORS and data["branding"]["icon"]


def test_the_issue_s_inputs_and_outputs_are_there():
    data = _action()
    assert {"python", "args", "fail-on", "require-gpus", "version", "upload-report"} <= set(data["inputs"])
    assert {"verdict", "errors", "warnings", "report-path"} <= set(data["outputs"])
    assert not any(spec.get("required") for spec in data["inputs"].values())


def test_every_input_is_used_and_every_output_is_set():
    data = _action()
    steps = data["runs"]["steps"]
    text = yaml.safe_dump(steps)
    for name in data["inputs"]:
        assert f"inputs.{name}" in text, f"input {name} is never read"
    written = {}
    for step in steps:
        for m in re.finditer(r'echo "([a-z-]+)=|"([a-z-]+)="|print\("([a-z-]+)=', step.get("run", "")):
            written.setdefault(step.get("id"), set()).add(next(g for g in m.groups() if g))
    for name, spec in data["outputs"].items():
        sid, out = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", EXPR_RE.fullmatch(spec["value"]).group(1)).groups()
        assert out in written.get(sid, set()), f"output {name}: step {sid} never writes {out}"


def test_no_script_interpolates_an_expression():
    """`${{ }}` inside a script is pasted into the code before bash reads it (script injection):
    every value reaches a script through `env:`."""
    for step in _action()["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
        for value in (step.get("env") or {}).values():
            assert EXPR_RE.fullmatch(str(value)) or "${{" not in str(value)


def test_the_artifact_is_the_upload_artifact_v4_action():
    uses = [s for s in _action()["runs"]["steps"] if "uses" in s]
    assert [s["uses"] for s in uses] == ["actions/upload-artifact@v4"]
    assert "inputs.upload-report" in uses[0]["if"] and "steps.doctor.outputs.report-path" in uses[0]["if"]


# --- running the steps -----------------------------------------------------------------------


def _wheel(out: Path) -> Path:
    """A wheel of this checkout's src/tfgpu (pure Python), zipped by hand: no build backend, no network."""
    version = tfgpu.__version__
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    dist = f"tfgpu-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((ROOT / "src" / "tfgpu").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(ROOT / "src").as_posix()] = path.read_bytes()
    # What the build backend adds beside the package (the bundled matrix), as pyproject.toml says.
    for source, target in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"].items():
        files[target] = (ROOT / source).read_bytes()
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: tfgpu\nVersion: {version}\n".encode()
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests/test_action.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    scripts = "".join(f"{k} = {v}\n" for k, v in project["scripts"].items())
    files[f"{dist}/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()
    record = []
    for name, body in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(body)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"tfgpu-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body)
    return wheel


class Runner:
    """Runs a composite action's (or a workflow job's) steps the way a runner does, here."""

    def __init__(self, base: Path, env: dict[str, str]):
        self.base = base
        self.temp = base / "runner-temp"
        self.temp.mkdir(parents=True, exist_ok=True)
        self.summary = base / "step-summary.md"
        self.workspace = base / "workspace"
        self.workspace.mkdir(exist_ok=True)
        self.env = {**env, "GITHUB_ACTIONS": "true", "CI": "true", "RUNNER_TEMP": str(self.temp),
                    "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_WORKSPACE": str(self.workspace),
                    "GITHUB_JOB": "preflight", "GITHUB_RUN_ATTEMPT": "1", "RUNNER_NAME": "gpu-runner-1",
                    "GITHUB_ACTION": "tfgpu"}
        self.ran: list[str] = []
        self.logs: list[str] = []
        self.n = 0

    def _eval(self, expr: str, scope: dict[str, Any]) -> str:
        parts = expr.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return str(scope["inputs"][parts[1]])
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return scope["steps"].get(parts[1], {}).get(parts[3], "")
        if parts[0] == "steps" and len(parts) == 3 and parts[2] == "outcome":
            return scope["outcomes"].get(parts[1], "")
        if expr == "github.action_path":
            return str(ROOT)
        raise AssertionError(f"an expression this runner does not know: {expr}")

    def _fill(self, value: Any, scope: dict[str, Any]) -> str:
        return EXPR_RE.sub(lambda m: self._eval(m.group(1), scope), str(value))

    def _wanted(self, step: dict[str, Any], failed: bool) -> bool:
        cond = str(step.get("if", "")).replace("${{", "").replace("}}", "").strip()
        if "always()" in cond:
            return True
        if "failure()" in cond:
            return failed
        return not failed

    def run_steps(self, steps: list[dict[str, Any]], inputs: dict[str, str],
                  uses: dict[str, Any] | None = None) -> tuple[int, dict[str, dict[str, str]]]:
        """Run the steps; `uses` maps an action reference to a function running it (others are
        skipped). Returns (the first failing step's exit code or 0, {step id: outputs})."""
        scope: dict[str, Any] = {"inputs": inputs, "steps": {}, "outcomes": {}}
        code = 0
        for step in steps:
            if not self._wanted(step, code != 0):
                continue
            if "uses" in step:
                runner = (uses or {}).get(step["uses"])
                if runner is None:
                    continue
                with_ = {k: self._fill(v, scope) for k, v in (step.get("with") or {}).items()}
                step_code, outputs = runner(with_)
            else:
                step_code, outputs = self._run_script(step, scope)
            self.ran.append(step.get("name") or step.get("id") or "?")
            if "id" in step:
                scope["steps"][step["id"]] = outputs
                scope["outcomes"][step["id"]] = "failure" if step_code else "success"
            if step_code and not step.get("continue-on-error"):
                code = code or step_code
        return code, scope["steps"]

    def _run_script(self, step: dict[str, Any], scope: dict[str, Any]) -> tuple[int, dict[str, str]]:
        self.n += 1
        script = self.base / f"step-{self.n}.sh"
        script.write_text(step["run"])
        output = self.base / f"output-{self.n}"
        output.write_text("")
        env = {**self.env, "GITHUB_OUTPUT": str(output), "GITHUB_ACTION_PATH": str(ROOT),
               **{k: self._fill(v, scope) for k, v in (step.get("env") or {}).items()}}
        cwd = self.workspace / step["working-directory"] if "working-directory" in step else self.workspace
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
        self.logs.append(proc.stdout + proc.stderr)
        return proc.returncode, _outputs(output.read_text())

    def run_action(self, inputs: dict[str, str], uses: dict[str, Any] | None = None) -> tuple[int, dict[str, str]]:
        """The action as `uses:` runs it: its inputs with their defaults, its outputs from its steps
        (`uses`: stand-ins for the actions its steps use, as in run_steps)."""
        data = _action()
        full = {name: spec.get("default", "") for name, spec in data["inputs"].items()}
        unknown = set(inputs) - set(full)
        assert not unknown, f"the action has no input {unknown}"
        full.update(inputs)
        code, steps = self.run_steps(data["runs"]["steps"], full, uses)
        scope = {"inputs": full, "steps": steps}
        return code, {name: self._fill(spec["value"], scope) for name, spec in data["outputs"].items()}


def _outputs(text: str) -> dict[str, str]:
    """A GITHUB_OUTPUT file: name=value lines and name<<DELIMITER blocks."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        name, _, value = line.partition("=")
        out[name] = value
        i += 1
    return out


@pytest.fixture(scope="module")
def offline_pip(tmp_path_factory) -> dict[str, str]:
    if shutil.which("python3") is None:
        pytest.skip("no python3 on PATH for the install step")
    probe = subprocess.run(["python3", "-c", "import ensurepip, venv, sys; sys.exit(sys.version_info < (3, 10))"],
                           capture_output=True, timeout=60)
    if probe.returncode:
        pytest.skip("python3 on PATH cannot make a venv with pip (python3-venv), or is older than 3.10")
    wheels = tmp_path_factory.mktemp("wheelhouse")
    _wheel(wheels)
    # The dependencies: this venv's site-packages without tfgpu itself (its editable install would
    # make pip find tfgpu "already satisfied" and install nothing), linked entry by entry.
    deps = tmp_path_factory.mktemp("deps")
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if not entry.name.lower().startswith(("tfgpu", "_tfgpu", "__editable__")) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "PIP_NO_DEPS": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONPATH": str(deps)}


@pytest.fixture(scope="module")
def shared_temp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared-runner")


@pytest.fixture
def runner(tmp_path, offline_pip, shared_temp) -> Runner:
    r = Runner(tmp_path, tfgpu_env(offline_pip))
    r.temp = shared_temp  # one venv per module: the install step reuses the one it finds
    r.env["RUNNER_TEMP"] = str(shared_temp)
    return r


VERSION = {"version": tfgpu.__version__}


@pytest.mark.slow
def test_the_action_on_a_machine_without_a_driver_fails_with_the_reason(runner):
    code, out = runner.run_action({**VERSION, "python": sys.executable, "args": "--fast"})
    logs = "\n".join(runner.logs)
    assert code == 1, logs[-3000:]
    assert out["verdict"] == "not_ready" and int(out["errors"]) >= 1 and out["warnings"].isdigit()
    assert out["exit-code"] == "1"
    report = Path(out["report-path"])
    assert report.is_file() and report.is_relative_to(runner.temp) and Path(out["junit-path"]).is_file()
    summary = runner.summary.read_text()
    assert "NOT READY" in summary.upper() and "driver" in summary.lower()
    assert re.search(r"^::error", logs, re.M), "no ::error annotation"
    assert runner.ran[-1] == "Fail with the doctor's exit code"
    # Its own venv under RUNNER_TEMP; the job's Python got nothing.
    assert (runner.temp / "tfgpu-action-venv" / "bin" / "tfgpu").exists()


@pytest.mark.slow
def test_the_inputs_reach_the_doctor(runner, cc, tmp_path):
    nvml = nvml_env(build_fake_nvml(cc, tmp_path / "nvml"), f"{A100};{A100}")
    runner.env.update(nvml)
    # A GPU-presence preflight: only the driver check, and a policy of two GPUs, under --fast.
    code, out = runner.run_action({**VERSION, "python": sys.executable, "require-gpus": "2",
                                   "args": "--fast driver-present 'cuda-visible-devices'"})
    assert code == 0, "\n".join(runner.logs)[-3000:]
    assert out["errors"] == "0" and out["verdict"] != "" and out["exit-code"] == "0"
    data = json.loads(Path(out["report-path"]).read_text())
    assert data["policy"]["required"] == {"gpus": 2}
    assert {f["check"] for f in data["findings"]} <= {"driver-present", "cuda-visible-devices", "policy-gpus"}
    code, out = runner.run_action({**VERSION, "python": sys.executable, "require-gpus": "3",
                                   "fail-on": "warning", "args": "--fast driver-present"})
    assert code == 1 and out["exit-code"] == "1" and int(out["errors"]) >= 1
    data = json.loads(Path(out["report-path"]).read_text())
    assert data["policy"]["fail_on"] == "warning"
    assert any(f["id"] == "policy-gpus" and f["severity"] == "error" for f in data["findings"])


@pytest.mark.slow
def test_the_default_fail_on_leaves_the_project_s_policy_alone(runner):
    """Left empty, the fail-on input passes no --fail-on: the workspace's [tool.tfgpu] fail-on holds,
    and --strict in args is not refused as a conflict with a --fail-on the user never wrote."""
    (runner.workspace / "pyproject.toml").write_text('[tool.tfgpu]\nfail-on = "warning"\n')
    code, out = runner.run_action({**VERSION, "python": sys.executable, "args": "--fast"})
    assert out["report-path"], "\n".join(runner.logs)[-3000:]
    assert json.loads(Path(out["report-path"]).read_text())["policy"]["fail_on"] == "warning"
    (runner.workspace / "pyproject.toml").unlink()
    code, out = runner.run_action({**VERSION, "python": sys.executable, "args": "--fast --strict"})
    assert out["exit-code"] == "1", "\n".join(runner.logs)[-3000:]
    assert json.loads(Path(out["report-path"]).read_text())["policy"]["fail_on"] == "warning"


@pytest.mark.slow
def test_a_python3_without_venv_support_is_said_and_leaves_no_half_venv(runner, tmp_path):
    """A stand-in for Debian's python3 without python3-venv: `-m venv` leaves bin/python and fails.
    The step says what to install, and a later use does not reuse the half-made venv."""
    real = shutil.which("python3")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = -m ] && [ "$2" = venv ]; then "{real}" -m venv --without-pip "$3";'
        " echo 'The virtual environment was not created successfully because ensurepip is not available.' >&2;"
        " exit 1; fi\n"
        f'exec "{real}" "$@"\n')
    (fake / "python3").chmod(0o755)
    runner.temp = tmp_path / "own-temp"
    runner.temp.mkdir()
    runner.env["RUNNER_TEMP"] = str(runner.temp)
    runner.env["PATH"] = f"{fake}:{runner.env.get('PATH', os.defpath)}"
    for _ in range(2):
        code, out = runner.run_action({**VERSION, "python": sys.executable, "args": "--fast"})
        assert code != 0 and out["exit-code"] == ""
        assert re.search(r"^::error title=tfgpu::.*python3-venv", runner.logs[-1], re.M), runner.logs[-1]
        assert not (runner.temp / "tfgpu-action-venv").exists()


@pytest.mark.slow
def test_a_failed_upload_never_fails_a_ready_preflight(runner, cc, tmp_path):
    """upload-artifact failing (GitHub Enterprise Server has no v4) leaves the step's result to the doctor."""
    runner.env.update(nvml_env(build_fake_nvml(cc, tmp_path / "nvml"), f"{A100};{A100}"))
    uploads: list[dict[str, str]] = []

    def failing_upload(with_: dict[str, str]) -> tuple[int, dict[str, str]]:
        uploads.append(with_)
        return 1, {}

    code, out = runner.run_action({**VERSION, "python": sys.executable, "require-gpus": "2",
                                   "args": "--fast driver-present"}, {"actions/upload-artifact@v4": failing_upload})
    assert len(uploads) == 1 and Path(uploads[0]["path"]).is_dir()
    assert code == 0 and out["exit-code"] == "0", "\n".join(runner.logs)[-3000:]
    assert runner.ran[-1] == "Fail with the doctor's exit code"


@pytest.mark.slow
def test_bad_input_is_exit_2_with_no_report(runner):
    code, out = runner.run_action({**VERSION, "python": sys.executable, "args": "--fast 'unbalanced"})
    assert code == 2 and out["report-path"] == "" and out["verdict"] == ""
    code, out = runner.run_action({**VERSION, "python": sys.executable, "args": "--fast --require-gpus=-1"})
    assert code == 2 and out["exit-code"] == "2"
    code, out = runner.run_action({"version": "--index-url=https://example.invalid/simple"})
    assert code == 2 and out["exit-code"] == ""  # refused before anything was installed or run


@pytest.mark.slow
def test_version_path_is_a_folder_never_a_project_name(runner, tmp_path):
    """path:<dir> installs that folder: a bare name (path:tfgpu, a checkout beside the workspace's
    files) is not looked up on the package index, where pip would find a tfgpu (here the wheelhouse's)."""
    runner.temp = tmp_path / "own-temp"
    runner.temp.mkdir()
    runner.env["RUNNER_TEMP"] = str(runner.temp)
    (runner.workspace / "tfgpu").mkdir()  # a folder that is no project: pip must refuse it
    code, out = runner.run_action({"version": "path:tfgpu", "python": sys.executable, "args": "--fast"})
    assert code != 0 and out["exit-code"] == "", runner.logs[-1][-2000:]
    assert str(runner.workspace / "tfgpu") in runner.logs[-1]
    code, out = runner.run_action({"version": "path:missing", "python": sys.executable})
    assert code == 2 and out["exit-code"] == ""
    assert re.search(r"^::error title=tfgpu::.*path:<dir>.*does not exist", runner.logs[-1], re.M)


@pytest.mark.slow
def test_args_are_words_never_evaluated(runner, tmp_path):
    marker = tmp_path / "pwned"
    code, out = runner.run_action({**VERSION, "python": sys.executable,
                                   "args": f"--fast $(touch {marker}) `touch {marker}`; touch {marker}"})
    assert not marker.exists()
    assert code == 2  # the words are unknown check ids, refused as such


# --- the example workflow of docs/ci.md -----------------------------------------------------------


def _doc_workflow() -> dict[str, Any]:
    text = CI_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    workflows = [yaml.safe_load(b) for b in blocks]
    gh = [w for w in workflows if isinstance(w, dict) and "jobs" in w and "runs-on" in next(iter(w["jobs"].values()))]
    assert gh, "docs/ci.md has no GitHub Actions workflow example"
    return gh[0]


def test_the_doc_example_uses_the_action_with_known_inputs():
    workflow = _doc_workflow()
    (job,) = workflow["jobs"].values()
    assert "self-hosted" in job["runs-on"]
    mine = [s for s in job["steps"] if str(s.get("uses", "")).startswith("tfgpu/tfgpu")]
    assert len(mine) == 1 and set(mine[0].get("with") or {}) <= set(_action()["inputs"])
    for step in job["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")


@pytest.mark.slow
def test_the_doc_example_runs_its_steps(runner, tmp_path):
    """On this machine (no driver) the preflight fails the job: the steps after it are skipped but
    the one that runs on failure says why, from the action's outputs."""
    workflow = _doc_workflow()
    (job,) = workflow["jobs"].values()
    (runner.workspace / "train.py").write_text("print('training')\n")

    def action(with_: dict[str, str]) -> tuple[int, dict[str, str]]:
        return runner.run_action({**with_, **VERSION, "python": sys.executable})

    uses = {s["uses"]: action for s in job["steps"] if str(s.get("uses", "")).startswith("tfgpu/tfgpu")}
    code, steps = runner.run_steps(job["steps"], {}, uses)
    logs = "\n".join(runner.logs)
    assert code == 1, logs[-3000:]
    assert "training" not in logs
    assert "not_ready" in logs, logs[-2000:]
    assert any(os.path.basename(p).startswith("tfgpu-report") for p in os.listdir(runner.temp))


def test_the_doc_policy_example_is_a_valid_policy():
    policy = pytest.importorskip("tfgpu.policy")
    (block,) = re.findall(r"```toml\n(.*?)```", CI_DOC.read_text(encoding="utf-8"), re.S)
    table = tomllib.loads(block)["tool"]["tfgpu"]
    assert set(table) <= set(policy.KEYS)
    read = policy.read_table(table, "docs/ci.md")
    assert read


SELFTEST = ROOT / ".github" / "workflows" / "action-selftest.yml"


@pytest.mark.slow
def test_the_self_test_workflow_passes_here(runner):
    """The repository's own workflow of the action (a runner without a GPU), run here the same way."""
    workflow = yaml.safe_load(SELFTEST.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    for step in job["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
    mine = [s for s in job["steps"] if s.get("uses") == "./"]
    assert len(mine) == 1 and set(mine[0].get("with") or {}) <= set(_action()["inputs"])

    def action(with_: dict[str, str]) -> tuple[int, dict[str, str]]:
        return runner.run_action({**with_, **VERSION, "python": sys.executable})

    code, steps = runner.run_steps(job["steps"], {}, {"./": action})
    logs = "\n".join(runner.logs)
    assert code == 0, logs[-3000:]
    assert "outcome=failure verdict=not_ready" in logs

